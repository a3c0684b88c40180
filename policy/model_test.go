package policy

import (
	"errors"
	"testing"
	"time"
)

func TestResolveSemver(t *testing.T) {
	tags := []string{"latest", "v1.0.0", "v1.4.2", "1.4.10", "v1.5.0-rc.1", "v2.0.0", "sha256-abc.sig", "v1.4", "20240101", "v1.4.3+build"}
	tests := []struct {
		constraint string
		tags       []string
		want       string // "" means ErrNoMatchingTag
	}{
		{">=1.4 <2", tags, "1.4.10"}, // numeric, not lexical; "1.4.10" without v counts
		{"~1.4", tags, "1.4.10"},
		{"^1", tags, "1.4.10"},                   // pre-release v1.5.0-rc.1 excluded by a plain range
		{">=1.5.0-rc.0 <2", tags, "v1.5.0-rc.1"}, // a pre-release constraint admits it
		{">=2", tags, "v2.0.0"},
		{"=1.0.0", tags, "v1.0.0"},
		{">=3", tags, ""},
		{">=1", nil, ""},
		{">=1", []string{"latest", "v1.4", "20240101"}, ""}, // not MAJOR.MINOR.PATCH: ignored
		{"*", []string{"v1.0.0", "1.0.0"}, "v1.0.0"},        // same version: first listed wins
		{"*", []string{"1.0.0", "v1.0.0"}, "1.0.0"},
	}
	for _, tc := range tests {
		got, err := ResolveSemver(tc.constraint, tc.tags)
		if tc.want == "" {
			if !errors.Is(err, ErrNoMatchingTag) {
				t.Errorf("ResolveSemver(%q) = %q, %v; want ErrNoMatchingTag", tc.constraint, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveSemver(%q) = %q, %v; want %q", tc.constraint, got, err, tc.want)
		}
	}
	if _, err := ResolveSemver(">=banana", tags); err == nil || errors.Is(err, ErrNoMatchingTag) {
		t.Errorf("bad constraint: %v", err)
	}
}

func TestModelRef(t *testing.T) {
	d := "sha256:" + "ab12" + "0000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		m           ModelRef
		kind        RefKind
		ref, string string
	}{
		{ModelRef{Repository: "r.example/a", Version: "v1"}, ByTag, "r.example/a:v1", "r.example/a:v1"},
		{ModelRef{Repository: "r.example/a", Semver: "^1"}, BySemver, "r.example/a", "r.example/a (semver ^1)"},
		{ModelRef{Repository: "r.example/a", Digest: d}, ByDigest, "r.example/a@" + d, "r.example/a@" + d},
		{ModelRef{Repository: "r.example/a", Semver: "^1"}.WithTag("v1.2.3"), ByTag, "r.example/a:v1.2.3", "r.example/a:v1.2.3"},
	} {
		if tc.m.Kind() != tc.kind || tc.m.Reference() != tc.ref || tc.m.String() != tc.string {
			t.Errorf("%+v: Kind %v Reference %q String %q; want %v %q %q", tc.m, tc.m.Kind(), tc.m.Reference(), tc.m.String(), tc.kind, tc.ref, tc.string)
		}
	}
}

func TestScalars(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "1.5h": 90 * time.Minute, "0": 0, "0s": 0, "250ms": 250 * time.Millisecond,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"30", "-1s", "1w", "d", "1d-1h", "999999999d", ""} {
		if got, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", bad, got)
		}
	}
	for d, want := range map[time.Duration]string{7 * 24 * time.Hour: "7d", 36 * time.Hour: "1d12h", 90 * time.Minute: "1h30m", time.Hour: "1h", 5 * time.Minute: "5m", 250 * time.Millisecond: "250ms", 0: "0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		} else if back, err := ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
	for in, want := range map[string]ByteSize{"1024": 1024, "10MiB": 10 << 20, "500KB": 500000, "1.5GB": 1500000000, "2 GiB": 2 << 30, "0": 0} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1", "10 parsecs", "MiB", "1e3", "99999999999TiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = nil error", bad)
		}
	}
	if s := ByteSize(10 << 20).String(); s != "10MiB" {
		t.Errorf("String = %q", s)
	}
	for _, b := range []string{"main", "talon/status", "release-1.2"} {
		if err := validBranch(b); err != nil {
			t.Errorf("validBranch(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "a..b", "/a", "a/", "a.lock", "a b", "-x", "a@{1}", ".hidden", "a/.b", "a\x01"} {
		if validBranch(b) == nil {
			t.Errorf("validBranch(%q) = nil", b)
		}
	}
}
