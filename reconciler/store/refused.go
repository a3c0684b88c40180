package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RefusedFile, in models/<org>/, names the digest the org must not deploy again: one that
// was rolled back as degraded. Talon refuses it until the desired state names another
// digest, across restarts.
const RefusedFile = "refused-digest.json"

// Refusal is the content of RefusedFile.
type Refusal struct {
	Digest string    `json:"digest"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Refuse records, durably, that org must not deploy digest again, and why. It replaces
// an earlier refusal: an org refuses one digest at a time (the one it was rolled back
// from).
func (s *Store) Refuse(ctx context.Context, org string, r Refusal) error {
	dir, err := s.OrgDir(org)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("refuse %s for %s: %w", r.Digest, org, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("refuse %s for %s: %w", r.Digest, org, err)
	}
	if _, err := writeDurable(ctx, filepath.Join(dir, RefusedFile), copyFrom(strings.NewReader(string(b)+"\n")), nil); err != nil {
		return fmt.Errorf("refuse %s for %s: %w", r.Digest, org, err)
	}
	return nil
}

// Refused returns the org's refusal, or ErrNotFound when it refuses nothing.
func (s *Store) Refused(org string) (Refusal, error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return Refusal{}, err
	}
	var r Refusal
	if err := readJSON(filepath.Join(dir, RefusedFile), &r); err != nil {
		return Refusal{}, err
	}
	if r.Digest == "" {
		return Refusal{}, fmt.Errorf("%s of %s names no digest: %w", RefusedFile, org, ErrNotFound)
	}
	return r, nil
}

// Unrefuse lifts the org's refusal (durably); without one it does nothing.
func (s *Store) Unrefuse(org string) error {
	dir, err := s.OrgDir(org)
	if err != nil {
		return err
	}
	if _, err := removeDurable(filepath.Join(dir, RefusedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lift the refusal of %s: %w", org, err)
	}
	return nil
}
