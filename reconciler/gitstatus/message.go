package gitstatus

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSubject is the longest commit subject written, as git tooling expects.
const maxSubject = 72

// maxDetail bounds the length of one org's line in the commit body.
const maxDetail = 200

// orgChange is what one org's line in a status commit message says.
type orgChange struct {
	org     string
	removed bool
	status  Status
}

// verb is the short word for the change: the phase in lower case, or "removed".
func (c orgChange) verb() string {
	switch {
	case c.removed:
		return "removed"
	case c.status.Phase == "":
		return "updated"
	}
	return strings.ToLower(string(c.status.Phase))
}

// short is "org: verb version".
func (c orgChange) short() string {
	s := c.org + ": " + printable(c.verb())
	if v := c.version(); v != "" && !c.removed {
		s += " " + printable(v)
	}
	return s
}

// detail is the full line: "acme: deployed 1.4.2 (sha256:abcd…) from config 3f2a1c9",
// with the last error for a failure.
func (c orgChange) detail() string {
	if c.removed {
		return c.org + ": status removed (the org is no longer reported by this replica)"
	}
	s := c.short()
	if d := c.digest(); d != "" {
		s += " (" + shortDigest(d) + ")"
	}
	if oc := c.status.ObservedCommit; oc != "" {
		s += " from config " + abbrev(oc, 7)
	}
	if e := c.status.LastError; e != "" {
		line, _, _ := strings.Cut(e, "\n")
		s += ": " + line
	}
	return truncate(printable(s), maxDetail)
}

// printable replaces control characters, which have no place in a commit message line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// version is the deployed version, or for a phase before deployment the desired tag.
func (c orgChange) version() string {
	st := c.status
	switch st.Phase {
	case PhaseDeployed, PhaseMonitoring, PhaseStable, PhaseDegraded:
		if st.Deployed.Version != "" {
			return st.Deployed.Version
		}
	}
	ref := st.Desired.Reference
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	return st.Deployed.Version
}

func (c orgChange) digest() string {
	st := c.status
	switch st.Phase {
	case PhaseDeployed, PhaseMonitoring, PhaseStable, PhaseDegraded:
		if st.Deployed.Digest != "" {
			return st.Deployed.Digest
		}
	}
	return st.Desired.Digest
}

// message builds the commit message for changes (sorted by org): a subject of at most
// maxSubject characters summarizing them, then one detail line per org and a trailer
// naming the replica.
func message(replica string, changes []orgChange) string {
	details := make([]string, len(changes))
	shorts := make([]string, len(changes))
	for i, c := range changes {
		details[i], shorts[i] = c.detail(), c.short()
	}
	subject := ""
	switch {
	case len(changes) == 1:
		subject = truncate(details[0], maxSubject)
	case fits(strings.Join(details, "; ")):
		subject = strings.Join(details, "; ")
	case fits(strings.Join(shorts, "; ")):
		subject = strings.Join(shorts, "; ")
	default:
		subject = truncate(countSummary(changes), maxSubject)
	}
	var b strings.Builder
	b.WriteString(subject)
	b.WriteString("\n\n")
	for _, d := range details {
		b.WriteString(d)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\nTalon-Replica: %s\n", replica)
	return b.String()
}

// countSummary is "status of 12 orgs: 8 deployed, 3 failed, 1 removed", most frequent first.
func countSummary(changes []orgChange) string {
	counts := map[string]int{}
	for _, c := range changes {
		counts[c.verb()]++
	}
	verbs := make([]string, 0, len(counts))
	for v := range counts {
		verbs = append(verbs, v)
	}
	sort.Slice(verbs, func(i, j int) bool {
		if counts[verbs[i]] != counts[verbs[j]] {
			return counts[verbs[i]] > counts[verbs[j]]
		}
		return verbs[i] < verbs[j]
	})
	parts := make([]string, len(verbs))
	for i, v := range verbs {
		parts[i] = fmt.Sprintf("%d %s", counts[v], v)
	}
	return fmt.Sprintf("status of %d orgs: %s", len(changes), strings.Join(parts, ", "))
}

func fits(s string) bool { return utf8.RuneCountInString(s) <= maxSubject }

// truncate shortens s to at most n characters, ending in "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shortDigest is "sha256:" and the first 12 hex digits, then "…".
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12] + "…"
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
