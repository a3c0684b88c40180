package policy

import (
	"testing"
	"time"
)

func TestWindowAt(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(y int, m time.Month, d, h, min, s int) time.Time {
		return time.Date(y, m, d, h, min, s, 0, time.UTC)
	}
	ber := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
	nightly := Window{Schedule: "0 22 * * *", Duration: 6 * time.Hour}
	weekdays := Window{Schedule: "0 22 * * 1-5", Duration: 6 * time.Hour}
	berlinNightly := Window{Schedule: "0 22 * * *", Duration: 6 * time.Hour, Timezone: "Europe/Berlin"}
	changeover := Window{Schedule: "30 2 * * *", Duration: time.Hour, Timezone: "Europe/Berlin"}
	tests := []struct {
		name     string
		w        Window
		now      time.Time
		open     bool
		opened   time.Time // when open
		closes   time.Time // when open
		nextOpen time.Time // when closed
	}{
		{"before opening", nightly, utc(2025, 6, 2, 21, 59, 59), false, time.Time{}, time.Time{}, utc(2025, 6, 2, 22, 0, 0)},
		{"exactly at opening", nightly, utc(2025, 6, 2, 22, 0, 0), true, utc(2025, 6, 2, 22, 0, 0), utc(2025, 6, 3, 4, 0, 0), time.Time{}},
		{"across midnight", nightly, utc(2025, 6, 3, 0, 0, 0), true, utc(2025, 6, 2, 22, 0, 0), utc(2025, 6, 3, 4, 0, 0), time.Time{}},
		{"last second", nightly, utc(2025, 6, 3, 3, 59, 59), true, utc(2025, 6, 2, 22, 0, 0), utc(2025, 6, 3, 4, 0, 0), time.Time{}},
		{"exactly at closing", nightly, utc(2025, 6, 3, 4, 0, 0), false, time.Time{}, time.Time{}, utc(2025, 6, 3, 22, 0, 0)},
		{"now in another zone", nightly, time.Date(2025, 6, 3, 1, 0, 0, 0, time.FixedZone("X", 3*3600)), true, utc(2025, 6, 2, 22, 0, 0), utc(2025, 6, 3, 4, 0, 0), time.Time{}},
		{"friday night spills into saturday", weekdays, utc(2025, 6, 7, 3, 0, 0), true, utc(2025, 6, 6, 22, 0, 0), utc(2025, 6, 7, 4, 0, 0), time.Time{}},
		{"saturday night closed until monday", weekdays, utc(2025, 6, 7, 23, 0, 0), false, time.Time{}, time.Time{}, utc(2025, 6, 9, 22, 0, 0)},
		{"berlin summer time", berlinNightly, utc(2025, 6, 2, 20, 30, 0), true, ber(2025, 6, 2, 22, 0), ber(2025, 6, 3, 4, 0), time.Time{}},
		{"berlin: 21:30 UTC in winter is 22:30 CET", berlinNightly, utc(2025, 1, 6, 21, 30, 0), true, ber(2025, 1, 6, 22, 0), ber(2025, 1, 7, 4, 0), time.Time{}},
		// Spring forward, 2025-03-30 02:00 CET → 03:00 CEST: six hours from 22:00 CET end at 05:00 CEST.
		{"spring forward: duration is elapsed time", berlinNightly, ber(2025, 3, 30, 4, 30), true, ber(2025, 3, 29, 22, 0), ber(2025, 3, 30, 5, 0), time.Time{}},
		{"spring forward: closed at 05:00 CEST", berlinNightly, ber(2025, 3, 30, 5, 0), false, time.Time{}, time.Time{}, ber(2025, 3, 30, 22, 0)},
		// Fall back, 2025-10-26 03:00 CEST → 02:00 CET: six hours from 22:00 CEST end at 03:00 CET.
		{"fall back: open at 02:30 CET", berlinNightly, time.Date(2025, 10, 26, 1, 30, 0, 0, time.UTC), true, ber(2025, 10, 25, 22, 0), ber(2025, 10, 26, 3, 0), time.Time{}},
		{"fall back: closed at 03:00 CET", berlinNightly, ber(2025, 10, 26, 3, 0), false, time.Time{}, time.Time{}, ber(2025, 10, 26, 22, 0)},
		{"nonexistent 02:30 is skipped", changeover, ber(2025, 3, 30, 3, 15), false, time.Time{}, time.Time{}, ber(2025, 3, 31, 2, 30)},
		{"repeated 02:30: second opening", changeover, time.Date(2025, 10, 26, 1, 45, 0, 0, time.UTC), true, time.Date(2025, 10, 26, 1, 30, 0, 0, time.UTC), time.Date(2025, 10, 26, 2, 30, 0, 0, time.UTC), time.Time{}},
		{"overlapping openings merge", Window{Schedule: "0 1,2 * * *", Duration: 90 * time.Minute}, utc(2025, 6, 2, 1, 15, 0), true, utc(2025, 6, 2, 1, 0, 0), utc(2025, 6, 2, 3, 30, 0), time.Time{}},
		{"merged window after first opening's end", Window{Schedule: "0 1,2 * * *", Duration: 90 * time.Minute}, utc(2025, 6, 2, 3, 0, 0), true, utc(2025, 6, 2, 1, 0, 0), utc(2025, 6, 2, 3, 30, 0), time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WindowAt(tc.w, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Open != tc.open || got.Always {
				t.Fatalf("Open = %v (Always %v), want %v; state %+v", got.Open, got.Always, tc.open, got)
			}
			if tc.open && (!got.OpenedAt.Equal(tc.opened) || !got.ClosesAt.Equal(tc.closes)) {
				t.Errorf("open %v – %v, want %v – %v", got.OpenedAt, got.ClosesAt, tc.opened, tc.closes)
			}
			if !tc.open && !got.NextOpen.Equal(tc.nextOpen) {
				t.Errorf("NextOpen = %v, want %v", got.NextOpen, tc.nextOpen)
			}
		})
	}
}

// TestWindowOverlapNeverCloses: openings every 2h lasting 3h chain into one window that
// does not close within the walk's horizon, and OpenedAt goes back as far as the chain.
func TestWindowOverlapNeverCloses(t *testing.T) {
	now := time.Date(2025, 6, 2, 1, 0, 0, 0, time.UTC)
	got, err := WindowAt(Window{Schedule: "0 */2 * * *", Duration: 3 * time.Hour}, now)
	if err != nil || !got.Open {
		t.Fatalf("%+v, %v", got, err)
	}
	if !got.ClosesAt.After(now.Add(1000*time.Hour)) || !got.OpenedAt.Before(now.Add(-1000*time.Hour)) {
		t.Errorf("chained window %v – %v, want far on both sides of %v", got.OpenedAt, got.ClosesAt, now)
	}
}

func TestWindowAlwaysAndErrors(t *testing.T) {
	got, err := WindowAt(Window{}, time.Now())
	if err != nil || !got.Open || !got.Always {
		t.Errorf("no schedule: %+v, %v; want always open", got, err)
	}
	for _, w := range []Window{
		{Schedule: "0 22 * * *"},
		{Schedule: "nonsense", Duration: time.Hour},
		{Schedule: "0 22 * * *", Duration: time.Hour, Timezone: "Nowhere/Land"},
	} {
		if _, err := WindowAt(w, time.Now()); err == nil {
			t.Errorf("WindowAt(%+v) = nil error", w)
		}
	}
}
