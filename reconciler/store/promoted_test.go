package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPromotions: recorded promotions survive reopening the store, Promoted finds them,
// another org's are its own, and the list keeps the newest MaxPromoted.
func TestPromotions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, WithoutEncryptionUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ps, err := s.Promotions("acme"); err != nil || len(ps) != 0 {
		t.Fatalf("Promotions of a new org = %v, %v; want none", ps, err)
	}
	at := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	if err := s.RecordPromotion(ctx, "acme", Promotion{Digest: "sha256:aa", Tag: "1.4.3", Commit: "c0ffee", At: at}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, WithoutEncryptionUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		org, digest string
		want        bool
	}{{"acme", "sha256:aa", true}, {"acme", "sha256:bb", false}, {"globex", "sha256:aa", false}} {
		if got, err := s2.Promoted(tc.org, tc.digest); err != nil || got != tc.want {
			t.Errorf("Promoted(%s, %s) = %v, %v; want %v", tc.org, tc.digest, got, err, tc.want)
		}
	}
	for i := range MaxPromoted + 5 {
		if err := s2.RecordPromotion(ctx, "acme", Promotion{Digest: fmt.Sprintf("sha256:%04d", i), At: at}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s2.Promotions("acme")
	if err != nil || len(ps) != MaxPromoted || ps[len(ps)-1].Digest != fmt.Sprintf("sha256:%04d", MaxPromoted+4) {
		t.Fatalf("Promotions after %d more = %d entries (last %v), %v; want the newest %d", MaxPromoted+5, len(ps), ps[len(ps)-1], err, MaxPromoted)
	}
	if got, _ := s2.Promoted("acme", "sha256:aa"); got {
		t.Error("the oldest promotion was kept past MaxPromoted")
	}
	if _, err := s2.Promotions("../etc"); err == nil {
		t.Error("Promotions of an org name with a path in it: no error")
	}
}
