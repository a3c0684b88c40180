package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// maxReport bounds a validation report file.
const maxReport = 1 << 20

// reportPath is models/<org>/model_<version>.validation.json.
func (s *Store) reportPath(org, version string) (string, error) {
	_, meta, err := s.versionPaths(org, version)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(meta, ".metadata.json") + ".validation.json", nil
}

// PutReport durably records the validation report (JSON, numbers only, never model bytes)
// of a stored version, replacing an earlier one.
func (s *Store) PutReport(ctx context.Context, org, version string, report []byte) error {
	if len(report) > maxReport {
		return fmt.Errorf("store: validation report of %s/%s is %d bytes, over %d", org, version, len(report), maxReport)
	}
	p, err := s.reportPath(org, version)
	if err != nil {
		return err
	}
	if _, err := writeDurable(ctx, p, copyFrom(bytes.NewReader(report)), nil); err != nil {
		return fmt.Errorf("store: validation report of %s/%s: %w", org, version, err)
	}
	return nil
}

// Report returns the validation report recorded for a stored version, or ErrNotFound.
func (s *Store) Report(org, version string) ([]byte, error) {
	p, err := s.reportPath(org, version)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("validation report of %s/%s: %w", org, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if len(b) > maxReport {
		return nil, fmt.Errorf("store: %s is larger than %d bytes", p, maxReport)
	}
	return b, nil
}
