package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// PromotedFile, in models/<org>/, lists the digests Talon's automatic promotion
// (cicd.autoPromote) committed for the org, so that it promotes each artifact at most
// once, across restarts: a version a person or an auto-rollback reverted is not promoted
// again; the next artifact pushed is.
const PromotedFile = "promoted-digests.json"

// MaxPromoted bounds the digests PromotedFile keeps, the oldest dropped first.
const MaxPromoted = 256

// Promotion is one entry of PromotedFile.
type Promotion struct {
	Digest string    `json:"digest"`
	Tag    string    `json:"tag"`
	Commit string    `json:"commit,omitempty"` // the promotion commit; empty when another replica made it
	At     time.Time `json:"at"`
}

// RecordPromotion adds p to the org's promotions, durably.
func (s *Store) RecordPromotion(ctx context.Context, org string, p Promotion) error {
	dir, err := s.OrgDir(org)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("record promotion of %s for %s: %w", p.Digest, org, err)
	}
	unlock, err := lockOrg(ctx, dir, true) // a read, then a write of the whole list
	if err != nil {
		return fmt.Errorf("record promotion of %s for %s: %w", p.Digest, org, err)
	}
	defer unlock()
	ps, err := s.Promotions(org)
	if err != nil {
		return err
	}
	ps = append(ps, p)
	if len(ps) > MaxPromoted {
		ps = slices.Clone(ps[len(ps)-MaxPromoted:])
	}
	b, err := json.MarshalIndent(ps, "", "  ")
	if err == nil {
		_, err = writeDurable(ctx, filepath.Join(dir, PromotedFile), copyFrom(strings.NewReader(string(b)+"\n")), nil)
	}
	if err != nil {
		return fmt.Errorf("record promotion of %s for %s: %w", p.Digest, org, err)
	}
	return nil
}

// Promotions returns the org's recorded promotions, oldest first (none: an empty list).
func (s *Store) Promotions(org string) ([]Promotion, error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return nil, err
	}
	var ps []Promotion
	if err := readJSON(filepath.Join(dir, PromotedFile), &ps); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return ps, nil
}

// Promoted reports whether digest is among the org's recorded promotions.
func (s *Store) Promoted(org, digest string) (bool, error) {
	ps, err := s.Promotions(org)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ps, func(p Promotion) bool { return p.Digest == digest }), nil
}
