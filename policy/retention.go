package policy

import (
	"fmt"
	"sort"
	"time"
)

// StoredVersion is one version of an org's model in the store, as retention sees it.
type StoredVersion struct {
	Version string
	Digest  string
	// Pushed is when the artifact was pushed; zero when unknown (the age rule skips it,
	// and it sorts as the oldest).
	Pushed time.Time
	// Accuracy is the recorded accuracy, 0..1, when HasAccuracy.
	Accuracy    float64
	HasAccuracy bool
	// LastDeployed is when this version was last deployed; zero if never.
	LastDeployed time.Time
}

// RetentionInput is what the retention decision looks at.
type RetentionInput struct {
	Versions []StoredVersion
	// Deployed is the version deployed now, LastGood the last known-good one; "" for none.
	// Neither is ever deleted.
	Deployed, LastGood string
	Now                time.Time
}

// Retention rules, as named in Reason.Rule.
const (
	RuleMaxVersions = "maxVersions"
	RuleMinAccuracy = "minAccuracy"
	RuleMaxAge      = "maxAgeDays"
)

// Reason is one rule that condemns a version, with the numbers that made it do so.
type Reason struct {
	Rule   string
	Detail string
}

// Deletion is a version retention deletes and every rule that condemned it.
type Deletion struct {
	Version string
	Digest  string
	Reasons []Reason
}

// Retain decides which stored versions to delete under p. Versions are ranked newest
// first by push time (ties: by version, descending). The rules compose, and a version
// condemned by several is listed once with every reason:
//
//   - maxVersions N: versions ranked N+1 and later (protected ones count toward N)
//   - minAccuracy A: versions whose recorded accuracy is below A (exactly A is kept;
//     unknown accuracy is kept)
//   - maxAgeDays D: versions pushed more than D×24h before now (exactly D days is kept)
//
// A zero limit turns its rule off. Never deleted: the deployed version, the last
// known-good version, and the keepDeployed most recently deployed other versions
// (rollback targets). The result is ordered oldest first.
func Retain(p Retention, in RetentionInput) []Deletion {
	vs := append([]StoredVersion(nil), in.Versions...)
	sort.SliceStable(vs, func(i, j int) bool { return newer(vs[i], vs[j]) })

	protected := map[string]bool{in.Deployed: true, in.LastGood: true}
	var past []StoredVersion
	for _, v := range vs {
		if !v.LastDeployed.IsZero() && !protected[v.Version] {
			past = append(past, v)
		}
	}
	sort.SliceStable(past, func(i, j int) bool { return past[i].LastDeployed.After(past[j].LastDeployed) })
	for i := 0; i < len(past) && i < p.KeepDeployed; i++ {
		protected[past[i].Version] = true
	}

	var out []Deletion
	seen := map[string]bool{}
	for rank, v := range vs {
		if seen[v.Version] {
			continue
		}
		seen[v.Version] = true
		var why []Reason
		if p.MaxVersions > 0 && rank >= p.MaxVersions {
			why = append(why, Reason{RuleMaxVersions, fmt.Sprintf("newest-first rank %d, over the limit of %d", rank+1, p.MaxVersions)})
		}
		if p.MinAccuracy > 0 && v.HasAccuracy && v.Accuracy < p.MinAccuracy {
			why = append(why, Reason{RuleMinAccuracy, fmt.Sprintf("accuracy %g below %g", v.Accuracy, p.MinAccuracy)})
		}
		if p.MaxAgeDays > 0 && !v.Pushed.IsZero() && in.Now.Sub(v.Pushed) > time.Duration(p.MaxAgeDays)*24*time.Hour {
			why = append(why, Reason{RuleMaxAge, fmt.Sprintf("pushed %s ago, over %d days", FormatDuration(in.Now.Sub(v.Pushed).Truncate(time.Minute)), p.MaxAgeDays)})
		}
		if len(why) > 0 && !protected[v.Version] {
			out = append(out, Deletion{Version: v.Version, Digest: v.Digest, Reasons: why})
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// newer orders versions newest first; unknown push times sort last.
func newer(a, b StoredVersion) bool {
	if !a.Pushed.Equal(b.Pushed) {
		if a.Pushed.IsZero() || b.Pushed.IsZero() {
			return b.Pushed.IsZero()
		}
		return a.Pushed.After(b.Pushed)
	}
	return a.Version > b.Version
}
