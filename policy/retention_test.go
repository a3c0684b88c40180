package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetain(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	v := func(name string, ageDays float64, acc float64, deployedDaysAgo float64) StoredVersion {
		sv := StoredVersion{Version: name, Digest: "sha256:" + name, Pushed: now.Add(-time.Duration(ageDays * float64(day)))}
		if acc >= 0 {
			sv.Accuracy, sv.HasAccuracy = acc, true
		}
		if deployedDaysAgo >= 0 {
			sv.LastDeployed = now.Add(-time.Duration(deployedDaysAgo * float64(day)))
		}
		return sv
	}
	five := []StoredVersion{ // newest first: v5 … v1
		v("v1", 50, 0.95, -1), v("v2", 40, 0.80, -1), v("v3", 30, 0.91, -1), v("v4", 20, 0.92, -1), v("v5", 10, 0.93, -1),
	}
	type del = map[string][]string // version → rules
	tests := []struct {
		name string
		p    Retention
		in   RetentionInput
		want del
	}{
		{"empty store", Retention{MaxVersions: 1, MinAccuracy: 0.9, MaxAgeDays: 1}, RetentionInput{Now: now}, del{}},
		{"all rules off (zero)", Retention{}, RetentionInput{Versions: five, Now: now}, del{}},
		{"maxVersions: 0 keeps every version", Retention{MaxVersions: 0}, RetentionInput{Versions: five, Now: now}, del{}},
		{"maxVersions 2", Retention{MaxVersions: 2}, RetentionInput{Versions: five, Now: now},
			del{"v1": {RuleMaxVersions}, "v2": {RuleMaxVersions}, "v3": {RuleMaxVersions}}},
		{"maxVersions exactly the count", Retention{MaxVersions: 5}, RetentionInput{Versions: five, Now: now}, del{}},
		{"maxVersions counts protected versions", Retention{MaxVersions: 2}, RetentionInput{Versions: five, Deployed: "v1", LastGood: "v2", Now: now},
			del{"v3": {RuleMaxVersions}}},
		{"minAccuracy: below goes, exactly at stays", Retention{MinAccuracy: 0.91}, RetentionInput{Versions: five, Now: now},
			del{"v2": {RuleMinAccuracy}}},
		{"unknown accuracy is kept", Retention{MinAccuracy: 0.99}, RetentionInput{Versions: []StoredVersion{v("x", 1, -1, -1), v("y", 2, 0.5, -1)}, Now: now},
			del{"y": {RuleMinAccuracy}}},
		{"maxAgeDays: exactly at the limit stays", Retention{MaxAgeDays: 30}, RetentionInput{Versions: five, Now: now},
			del{"v1": {RuleMaxAge}, "v2": {RuleMaxAge}}},
		{"unknown push time: no age, sorts oldest", Retention{MaxAgeDays: 1, MaxVersions: 1},
			RetentionInput{Versions: []StoredVersion{{Version: "old"}, v("new", 0.5, -1, -1)}, Now: now},
			del{"old": {RuleMaxVersions}}},
		{"rules compose: one deletion, every reason", Retention{MaxVersions: 3, MinAccuracy: 0.9, MaxAgeDays: 35}, RetentionInput{Versions: five, Now: now},
			del{"v1": {RuleMaxVersions, RuleMaxAge}, "v2": {RuleMaxVersions, RuleMinAccuracy, RuleMaxAge}}},
		{"never the deployed, never the last good", Retention{MaxVersions: 1, MinAccuracy: 0.99, MaxAgeDays: 1},
			RetentionInput{Versions: five, Deployed: "v2", LastGood: "v1", Now: now},
			del{"v3": {RuleMaxVersions, RuleMinAccuracy, RuleMaxAge}, "v4": {RuleMaxVersions, RuleMinAccuracy, RuleMaxAge}, "v5": {RuleMinAccuracy, RuleMaxAge}}},
		{"keepDeployed keeps the most recently deployed others", Retention{MaxVersions: 1, KeepDeployed: 2},
			RetentionInput{Versions: []StoredVersion{v("a", 5, -1, 4), v("b", 4, -1, 3), v("c", 3, -1, 2), v("d", 2, -1, 1), v("e", 1, -1, 0)}, Deployed: "e", Now: now},
			del{"a": {RuleMaxVersions}, "b": {RuleMaxVersions}}},
		{"keepDeployed 0", Retention{MaxVersions: 1, KeepDeployed: 0},
			RetentionInput{Versions: []StoredVersion{v("a", 5, -1, 4), v("e", 1, -1, 0)}, Deployed: "e", Now: now},
			del{"a": {RuleMaxVersions}}},
		{"same push time: higher version is newer", Retention{MaxVersions: 1},
			RetentionInput{Versions: []StoredVersion{v("v1", 1, -1, -1), v("v2", 1, -1, -1)}, Now: now},
			del{"v1": {RuleMaxVersions}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := del{}
			for _, d := range Retain(tc.p, tc.in) {
				if _, dup := got[d.Version]; dup {
					t.Errorf("%s listed twice", d.Version)
				}
				if d.Digest != "sha256:"+d.Version && d.Version != "old" {
					t.Errorf("%s: digest %q", d.Version, d.Digest)
				}
				for _, r := range d.Reasons {
					got[d.Version] = append(got[d.Version], r.Rule)
					if r.Detail == "" {
						t.Errorf("%s: reason %s without detail", d.Version, r.Rule)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("deletions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRetainOrderAndDetail: deletions come oldest first, with the numbers in the detail.
func TestRetainOrderAndDetail(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	vs := []StoredVersion{
		{Version: "b", Pushed: now.AddDate(0, 0, -40), Accuracy: 0.5, HasAccuracy: true},
		{Version: "a", Pushed: now.AddDate(0, 0, -50)},
		{Version: "c", Pushed: now},
	}
	got := Retain(Retention{MaxAgeDays: 30, MinAccuracy: 0.6}, RetentionInput{Versions: vs, Now: now})
	want := []Deletion{
		{Version: "a", Reasons: []Reason{{RuleMaxAge, "pushed 50d ago, over 30 days"}}},
		{Version: "b", Reasons: []Reason{{RuleMinAccuracy, "accuracy 0.5 below 0.6"}, {RuleMaxAge, "pushed 40d ago, over 30 days"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
