package hooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// verifyGitHub checks X-Hub-Signature-256 = "sha256=" + hex(HMAC-SHA256(secret, body)).
func (h *Handler) verifyGitHub(hd http.Header, body []byte) error {
	if len(h.secret) == 0 {
		return fmt.Errorf("%w: no secret configured for GitHub deliveries", ErrUnauthorized)
	}
	sig := hd.Get("X-Hub-Signature-256")
	if sig == "" {
		return fmt.Errorf("%w: missing X-Hub-Signature-256", ErrUnauthorized)
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return fmt.Errorf("%w: X-Hub-Signature-256 is not sha256=<hex>", ErrUnauthorized)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: X-Hub-Signature-256 is not sha256=<hex>", ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: X-Hub-Signature-256 does not match the body", ErrUnauthorized)
	}
	return nil
}

// verifyGitLab checks the signing token's webhook-signature when one is configured, else
// X-Gitlab-Token against the secret.
func (h *Handler) verifyGitLab(hd http.Header, body []byte) error {
	if len(h.signingKey) > 0 {
		return h.verifySigned(hd, body)
	}
	if len(h.secret) == 0 {
		return fmt.Errorf("%w: no secret configured for GitLab deliveries", ErrUnauthorized)
	}
	tok := hd.Get("X-Gitlab-Token")
	if tok == "" {
		return fmt.Errorf("%w: missing X-Gitlab-Token", ErrUnauthorized)
	}
	// Comparing digests keeps the comparison constant-time in the token's length too.
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256(h.secret)
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return fmt.Errorf("%w: X-Gitlab-Token does not match", ErrUnauthorized)
	}
	return nil
}

// verifySigned checks a Standard Webhooks signature as GitLab's signing token sends it:
// webhook-signature "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" (space-separated, any
// may match) with webhook-timestamp within the tolerance of now.
func (h *Handler) verifySigned(hd http.Header, body []byte) error {
	id, ts, sigs := hd.Get("webhook-id"), hd.Get("webhook-timestamp"), hd.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature", ErrUnauthorized)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not Unix seconds", ErrUnauthorized)
	}
	if skew := h.now().Sub(time.Unix(sec, 0)).Abs(); skew > h.tolerance {
		return fmt.Errorf("%w: webhook-timestamp is %s from now (tolerance %s)", ErrUnauthorized, skew.Round(time.Second), h.tolerance)
	}
	mac := hmac.New(sha256.New, h.signingKey)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 webhook-signature matches the body", ErrUnauthorized)
}

// decodeSigningToken returns the HMAC key of a "whsec_<base64>" signing token.
func decodeSigningToken(token []byte) ([]byte, error) {
	t := string(bytes.TrimSpace(token))
	t = strings.TrimPrefix(t, "whsec_")
	key, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil, errors.New("hooks: GitLab signing token is not whsec_<base64>")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("hooks: GitLab signing token holds a %d-byte key, expected 24 to 64", len(key))
	}
	return key, nil
}
