package policy

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones resolve the same on every machine

	"github.com/Masterminds/semver/v3"
	"github.com/robfig/cron/v3"
)

// ByteSize is a number of bytes. In YAML it is an integer or a number with a unit: B, KB,
// MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), such as 10MiB.
type ByteSize int64

var byteUnits = []struct {
	name string
	n    int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

var byteSizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?$`)

// ParseByteSize parses "10MiB", "500KB", "1.5GB" or "1024".
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (use bytes or a unit: 500KB, 10MiB, 1GB)", s)
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if u.name == m[2] {
			mult = u.n
		}
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return ByteSize(math.Round(f * float64(mult))), nil
}

// String formats the size with the largest binary unit that divides it, such as 10MiB.
func (b ByteSize) String() string {
	for _, u := range byteUnits[:4] {
		if b != 0 && int64(b)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(b)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(b))
}

var dayPrefix = regexp.MustCompile(`^([0-9]+)d(.*)$`)

// ParseDuration is time.ParseDuration that also accepts a leading number of days, such as
// 7d or 1d12h; a day is 24 hours of elapsed time. Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if m := dayPrefix.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		days, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return days, nil
		}
	}
	if s == "0" {
		return days, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("%q has no unit (such as 30s, 5m, 2h, 7d)", s)
		}
		return 0, fmt.Errorf("%q is not a duration (such as 30s, 5m, 2h, 7d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return days + d, nil
}

// FormatDuration formats d the way ParseDuration reads it, as briefly as it can: 7d, 1h30m, 250ms.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if day := 24 * time.Hour; d >= day && d%time.Hour == 0 {
		fmt.Fprintf(&b, "%dd", d/day)
		d %= day
		if d == 0 {
			return b.String()
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return b.String() + s
}

// Cron is a cron expression: five fields (minute hour day-of-month month day-of-week) or a
// descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every <duration>), as robfig/cron
// reads them. The time zone is not part of it (see Window.Timezone).
type Cron string

// cronProbe is a fixed start for checking that a schedule ever fires.
var cronProbe = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse returns the schedule. An empty Cron is an error.
func (c Cron) Parse() (cron.Schedule, error) {
	s := strings.TrimSpace(string(c))
	if s == "" {
		return nil, errors.New("empty cron expression")
	}
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("cron %q: set the time zone with `timezone`, not in the expression", s)
	}
	sch, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v (want 5 fields: minute hour day-of-month month day-of-week, or @daily)", s, err)
	}
	if sch.Next(cronProbe).IsZero() {
		return nil, fmt.Errorf("cron %q never fires", s)
	}
	return sch, nil
}

var (
	envPattern     = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
	digestPattern  = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	subjectPattern = regexp.MustCompile(`^(user|group|token):[A-Za-z0-9._@+-]{1,128}$`)
	repoPattern    = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`)
)

// checks are the named constraints of `talon:` struct tags. Each gets the scalar text.
var checks = map[string]func(string) error{
	"orgname": ValidateOrgName,
	"dnslabel": func(s string) error {
		if !orgName.MatchString(s) {
			return fmt.Errorf("%q is not a lowercase DNS label (a-z, 0-9, '-', at most 63, alphanumeric at both ends)", s)
		}
		return nil
	},
	"tag": ValidateVersion,
	"nonempty": func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("must not be empty")
		}
		return nil
	},
	"repository": func(s string) error {
		if strings.ContainsAny(s, "@") || !repoPattern.MatchString(s) {
			return fmt.Errorf("%q is not a repository such as registry.example.com/acme/pdm (lowercase, no tag, no digest)", s)
		}
		return nil
	},
	"digest": func(s string) error {
		if !digestPattern.MatchString(s) {
			return fmt.Errorf("%q is not a digest (sha256: and 64 lowercase hex digits)", s)
		}
		return nil
	},
	"semver": func(s string) error {
		if _, err := semver.NewConstraint(s); err != nil {
			return fmt.Errorf("%q is not a semver range (such as '>=1.4 <2' or '~1.4'): %v", s, err)
		}
		return nil
	},
	"repopath": validRepoPath,
	"branch":   validBranch,
	"envname": func(s string) error {
		if !envPattern.MatchString(s) {
			return fmt.Errorf("%q is not an environment variable name (A-Z, 0-9, _)", s)
		}
		return nil
	},
	"url": validWebhookURL,
	"subject": func(s string) error {
		if !subjectPattern.MatchString(s) {
			return fmt.Errorf("%q is not a subject (user:<email>, group:<name> or token:<id>)", s)
		}
		return nil
	},
	"cron": func(s string) error { _, err := Cron(s).Parse(); return err },
	"window-cron": func(s string) error {
		if strings.HasPrefix(strings.TrimSpace(s), "@every") {
			return errors.New("a window opens at fixed times: use a cron expression or @daily, not @every")
		}
		_, err := Cron(s).Parse()
		return err
	},
	"timezone": func(s string) error {
		if _, err := time.LoadLocation(s); err != nil || s == "" || s == "Local" {
			return fmt.Errorf("%q is not an IANA time zone (such as UTC or Europe/Berlin)", s)
		}
		return nil
	},
}

// validRepoPath checks a path inside the config repository: relative, slash-separated,
// without "." or ".." elements.
func validRepoPath(p string) error {
	if p == "" || strings.Contains(p, `\`) || !validFSPath(p) {
		return fmt.Errorf("%q is not a path inside this repository (relative, with /, no ..)", p)
	}
	return nil
}

func validFSPath(p string) bool {
	return path.Clean(p) == p && !strings.HasPrefix(p, "/") && p != "." && p != ".." &&
		!strings.HasPrefix(p, "../") && !strings.Contains(p, "/../") && !strings.HasSuffix(p, "/..")
}

// validBranch checks a branch name the way git check-ref-format does, for the rules a
// person can break by hand.
func validBranch(b string) error {
	bad := b == "" || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") || strings.Contains(b, "//") ||
		strings.Contains(b, "@{") || strings.HasPrefix(b, "-") || b == "@" ||
		strings.ContainsAny(b, " ~^:?*[\\\x7f") || strings.Contains(b, "/.") || strings.HasPrefix(b, ".")
	for _, r := range b {
		bad = bad || r < 0x20
	}
	if bad {
		return fmt.Errorf("%q is not a valid git branch name", b)
	}
	return nil
}

// validWebhookURL accepts an https URL (http only for loopback) without credentials, query
// or fragment, so no secret ends up in Git.
func validWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("not an absolute URL")
	}
	loop := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && loop):
		return errors.New("webhooks must use https (http only for loopback)")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("webhook URL must not carry credentials, a query or a fragment: put a URL with a secret in the environment and name it in urlFromEnv")
	}
	return nil
}
