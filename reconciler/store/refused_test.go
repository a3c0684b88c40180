package store

import (
	"errors"
	"testing"
	"time"
)

// TestRefusal: a refusal is kept durably, replaced by the next one, and lifted.
func TestRefusal(t *testing.T) {
	s, _ := newStore(t, true, "acme")
	if _, err := s.Refused("acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Refused before any = %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, d := range []string{"sha256:aaaa", "sha256:bbbb"} {
		if err := s.Refuse(t.Context(), "acme", Refusal{Digest: d, Reason: "degraded", At: at}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Refused("acme"); err != nil || r.Digest != d || !r.At.Equal(at) || r.Reason != "degraded" {
			t.Fatalf("Refused = %+v, %v; want %s", r, err, d)
		}
	}
	if _, err := s.Refused("other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another org's refusal leaked: %v", err)
	}
	for range 2 { // lifting twice is harmless
		if err := s.Unrefuse("acme"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Refused("acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Refused after Unrefuse = %v, want ErrNotFound", err)
	}
	if err := s.Refuse(t.Context(), "../x", Refusal{Digest: "sha256:cc"}); err == nil {
		t.Fatal("Refuse accepted an org name with ..")
	}
}
