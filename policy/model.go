package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// RefKind says how a ModelRef names its artifact, and so what the reconciler resolves.
type RefKind int

const (
	// ByTag: resolve Version (a tag) to a digest, once.
	ByTag RefKind = iota
	// BySemver: list the repository's tags, pick one with ResolveSemver, then resolve that tag.
	BySemver
	// ByDigest: Digest is already the answer; nothing to resolve.
	ByDigest
)

func (k RefKind) String() string {
	switch k {
	case BySemver:
		return "semver"
	case ByDigest:
		return "digest"
	}
	return "tag"
}

// Kind says which of Version, Semver and Digest is set (the loader guarantees exactly one).
func (m ModelRef) Kind() RefKind {
	switch {
	case m.Digest != "":
		return ByDigest
	case m.Semver != "" && m.Version == "":
		return BySemver
	}
	return ByTag
}

// Reference returns what a registry client resolves: "repository:version" for a tag,
// "repository@sha256:…" for a digest. For a semver range it returns the bare repository;
// resolve the range with ResolveSemver and use m.WithTag(tag).Reference().
func (m ModelRef) Reference() string {
	switch m.Kind() {
	case ByDigest:
		return m.Repository + "@" + m.Digest
	case BySemver:
		return m.Repository
	}
	return m.Repository + ":" + m.Version
}

// WithTag returns m pinned to tag: the result's Kind is ByTag. The reconciler uses it after
// ResolveSemver picked a tag.
func (m ModelRef) WithTag(tag string) ModelRef {
	return ModelRef{Repository: m.Repository, Version: tag}
}

// String describes m for people: "repo:v1", "repo@sha256:…" or "repo (semver >=1.4 <2)".
func (m ModelRef) String() string {
	if m.Kind() == BySemver {
		return fmt.Sprintf("%s (semver %s)", m.Repository, m.Semver)
	}
	return m.Reference()
}

// ErrNoMatchingTag is returned (wrapped) by ResolveSemver when no tag satisfies the range.
var ErrNoMatchingTag = errors.New("no tag matches the semver range")

// ResolveSemver returns the tag with the highest semantic version that satisfies
// constraint (Masterminds/semver syntax, such as ">=1.4 <2"). Tags that are not semantic
// versions (latest, sha256-….sig, 20240101, v1.4) are ignored: a tag counts only as
// MAJOR.MINOR.PATCH with an optional pre-release, and an optional leading "v". Pre-releases match
// only when the constraint itself names a pre-release (Masterminds' rule). When two tags
// are the same version ("v1.2.0" and "1.2.0"), the one listed first wins.
func ResolveSemver(constraint string, tags []string) (string, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", fmt.Errorf("semver range %q: %w", constraint, err)
	}
	var best *semver.Version
	bestTag := ""
	for _, t := range tags {
		v, err := semver.StrictNewVersion(strings.TrimPrefix(t, "v"))
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, bestTag = v, t
		}
	}
	if best == nil {
		return "", fmt.Errorf("%w %q among %d tags%s", ErrNoMatchingTag, constraint, len(tags), sample(tags))
	}
	return bestTag, nil
}

// sample lists up to five tags, sorted, for error messages.
func sample(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	s := append([]string(nil), tags...)
	sort.Strings(s)
	more := ""
	if len(s) > 5 {
		s, more = s[:5], ", …"
	}
	return " (" + strings.Join(s, ", ") + more + ")"
}
