package reconciler

import (
	"errors"
	"testing"
	"time"
)

func TestConditionsFlagUnsignedAndStalled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := &orgState{lastErr: stalled("verify", "UntrustedSigner", errors.New("signed by another key"))}
	got := map[string]string{}
	for _, c := range conditions(s, true, now) {
		got[c.Type] = c.Status + "/" + c.Reason
	}
	want := map[string]string{"Ready": "False/UntrustedSigner", "Stalled": "True/UntrustedSigner", "SignatureVerified": "False/AllowUnsigned"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, c := range conditions(&orgState{}, false, now) {
		if c.Type == "SignatureVerified" || (c.Type == "Ready" && c.Status != "True") {
			t.Errorf("healthy verified org has %+v", c)
		}
	}
}
