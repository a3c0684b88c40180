package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/policy"
)

// VersionInfo is one stored version as retention sees it.
type VersionInfo struct {
	Version string
	// Record is the version's record, from models/ when it is there, else from backups/;
	// zero when neither holds a usable one.
	Record Record
	// InModels and InBackups say where the version is stored whole (with its record).
	InModels, InBackups bool
	// Leftovers are the locations holding files of the version but no usable record:
	// left by a crash during Put, Backup or Delete, or a record that does not parse. They
	// are never read as a version (Lookup says ErrNotFound or ErrCorrupt); remove them
	// with Delete(ctx, org, Version, From(Leftovers)).
	Leftovers Location
	// Deployed is true for the version the deployed symlink points at.
	Deployed bool
	// LastDeployed is the latest deployment of the version found in a deploy dir or its
	// backup (see Backup); zero if none.
	LastDeployed time.Time
	// Accuracy, 0..1, is valid when HasAccuracy. It comes from the version's validation
	// report (PutReport) when that is for the record's digest and measured rows, else
	// from the "accuracy" key of the record's metadata. AccuracySource says which:
	// "validation" or "metadata".
	Accuracy       float64
	HasAccuracy    bool
	AccuracySource string
}

// Stored reports whether the version is stored whole somewhere.
func (v VersionInfo) Stored() bool { return v.InModels || v.InBackups }

// Pushed returns when the artifact was created (Record.Created), or when it was stored
// when that is unknown.
func (v VersionInfo) Pushed() time.Time {
	if !v.Record.Created.IsZero() {
		return v.Record.Created
	}
	return v.Record.StoredAt
}

// Versions lists the versions stored for org in models/ and backups/, one entry per
// version (models/ wins when both hold one), newest first by Pushed (ties: by version,
// descending), with what the retention decision needs (see RetentionInput). Versions
// that are only Leftovers come last. It fails with ErrDrift when it cannot tell which
// version is deployed.
func (s *Store) Versions(org string) ([]VersionInfo, error) {
	dir, err := s.OrgDir(org)
	if err != nil {
		return nil, err
	}
	bdir, err := s.BackupDir(org)
	if err != nil {
		return nil, err
	}
	deployed, last, err := s.deployState(dir)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", org, err)
	}
	byVersion := map[string]*VersionInfo{}
	for _, loc := range []struct {
		where Location
		dir   string
	}{{InModels, dir}, {InBackups, bdir}} {
		if err := s.scanVersions(loc.dir, loc.where, byVersion); err != nil {
			return nil, fmt.Errorf("versions of %s: %w", org, err)
		}
	}
	var out []VersionInfo
	for v, vi := range byVersion {
		vi.Deployed = v == deployed
		var dep Deployment
		if readJSON(s.files(bdir, v).deployment, &dep) == nil && dep.Version == v {
			last[v] = later(last[v], dep.DeployedAt)
		}
		vi.LastDeployed = last[v]
		if vi.Stored() {
			where := dir
			if !vi.InModels {
				where = bdir
			}
			vi.Accuracy, vi.AccuracySource, vi.HasAccuracy = accuracyOf(vi.Record, s.files(where, v).report)
		}
		out = append(out, *vi)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Stored() != b.Stored() {
			return a.Stored()
		}
		if !a.Pushed().Equal(b.Pushed()) {
			return a.Pushed().After(b.Pushed())
		}
		return a.Version > b.Version
	})
	return out, nil
}

// scanVersions adds the versions found in dir (at where) to byVersion.
func (s *Store) scanVersions(dir string, where Location, byVersion map[string]*VersionInfo) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	files := map[string]bool{}
	for _, e := range entries {
		v, record, ok := versionOf(e.Name())
		if !ok || !e.Type().IsRegular() || policy.ValidateVersion(v) != nil {
			continue
		}
		if byVersion[v] == nil {
			byVersion[v] = &VersionInfo{Version: v}
		}
		vi := byVersion[v]
		files[v] = true
		if !record {
			continue
		}
		rec, err := readRecord(filepath.Join(dir, e.Name()))
		if errors.Is(err, ErrCorrupt) || (err == nil && rec.Version != v) {
			continue // a leftover
		}
		if err != nil {
			return err
		}
		if where == InModels {
			vi.InModels = true
			vi.Record = rec
		} else {
			vi.InBackups = true
			if !vi.InModels {
				vi.Record = rec
			}
		}
	}
	for v := range files {
		vi := byVersion[v]
		if (where == InModels && !vi.InModels) || (where == InBackups && !vi.InBackups) {
			vi.Leftovers |= where
		}
	}
	return nil
}

// deployState returns the version deployed points at ("" when the org has no deploy)
// and, per version, the latest deployment found in a deploy dir. It fails with ErrDrift
// when the deployed dir is unreadable, or the symlink is missing while deploy dirs remain.
func (s *Store) deployState(dir string) (string, map[string]time.Time, error) {
	last := map[string]time.Time{}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("store: %w", err)
	}
	dirs := 0
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".deploy-") {
			continue
		}
		dirs++
		var dep Deployment
		if readJSON(filepath.Join(dir, e.Name(), DeploymentFile), &dep) == nil {
			last[dep.Version] = later(last[dep.Version], dep.DeployedAt)
		}
	}
	cur, err := s.currentDeploy(dir)
	switch {
	case errors.Is(err, ErrNotFound) && dirs > 0:
		return "", nil, fmt.Errorf("the deployed symlink is missing but %d deploy dirs remain: %w", dirs, ErrDrift)
	case errors.Is(err, ErrNotFound):
		return "", last, nil
	case err != nil:
		return "", nil, err
	}
	return cur.dep.Version, last, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// accuracyOf returns the accuracy of a version: from its validation report (the file
// report) when that is for rec's digest and measured rows, else from its metadata's
// "accuracy" key.
func accuracyOf(rec Record, report string) (float64, string, bool) {
	var gate struct {
		Digest string `json:"digest"`
		Report *struct {
			Rows     int      `json:"rows"`
			Accuracy *float64 `json:"accuracy"`
		} `json:"report"`
	}
	if readJSON(report, &gate) == nil && gate.Digest == rec.Digest &&
		gate.Report != nil && gate.Report.Rows > 0 && validAccuracy(gate.Report.Accuracy) {
		return *gate.Report.Accuracy, "validation", true
	}
	var meta struct {
		Accuracy *float64 `json:"accuracy"`
	}
	if len(rec.Metadata) > 0 && json.Unmarshal(rec.Metadata, &meta) == nil && validAccuracy(meta.Accuracy) {
		return *meta.Accuracy, "metadata", true
	}
	return 0, "", false
}

func validAccuracy(a *float64) bool {
	return a != nil && !math.IsNaN(*a) && *a >= 0 && *a <= 1
}

// RetentionInput builds the input of policy.Retain from Versions' result: every version
// stored whole (Leftovers alone are not versions), pushed at Pushed(), with its digest,
// accuracy and last deployment; Deployed is the version marked Deployed. lastGood is the
// last known-good version ("" for none), now the time the age rule measures from.
func RetentionInput(vs []VersionInfo, lastGood string, now time.Time) policy.RetentionInput {
	in := policy.RetentionInput{LastGood: lastGood, Now: now}
	for _, v := range vs {
		if !v.Stored() {
			continue
		}
		if v.Deployed {
			in.Deployed = v.Version
		}
		in.Versions = append(in.Versions, policy.StoredVersion{
			Version: v.Version, Digest: v.Record.Digest, Pushed: v.Pushed(),
			Accuracy: v.Accuracy, HasAccuracy: v.HasAccuracy, LastDeployed: v.LastDeployed,
		})
	}
	return in
}
