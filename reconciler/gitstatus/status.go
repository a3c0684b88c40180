package gitstatus

import (
	"bytes"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Phase is an org's place in the deployment state machine: Trained → Validating →
// (Failed | Deploying) → Deployed → Monitoring → (Stable | Degraded → Rollback → Deployed).
// Any string is accepted; these are the ones Talon uses.
type Phase string

// The phases of the state machine.
const (
	PhaseTrained    Phase = "Trained"
	PhaseValidating Phase = "Validating"
	PhaseFailed     Phase = "Failed"
	PhaseDeploying  Phase = "Deploying"
	PhaseDeployed   Phase = "Deployed"
	PhaseMonitoring Phase = "Monitoring"
	PhaseStable     Phase = "Stable"
	PhaseDegraded   Phase = "Degraded"
	PhaseRollback   Phase = "Rollback"
)

// Status is what one replica reports about one org. The writer keeps timestamps stable:
// LastTransition (of the phase), Deployed.Since and each condition's LastTransition are
// replaced by the ones already published when the value they date has not changed, and a
// zero one is set to the current time when it has. So passing time.Now() (or nothing) on
// every pass never makes a commit by itself.
type Status struct {
	// ObservedCommit is the config repository commit this status was computed from.
	ObservedCommit string
	// Desired is what the config repository asks for.
	Desired Desired
	// Deployed is what the replica serves.
	Deployed Deployed
	// Phase is the state machine's phase.
	Phase Phase
	// LastTransition is when Phase last changed.
	LastTransition time.Time
	// Conditions are the detailed observations, by type.
	Conditions []Condition
	// Validation is the validation report, rendered as YAML as it is (nil: omitted). Keep
	// volatile values such as timestamps or durations out of it, or every pass commits.
	Validation any
	// Monitoring is the monitoring summary, rendered as YAML as it is (nil: omitted), with
	// the same caveat.
	Monitoring any
	// LastError is the last error, for people; it must not hold secrets.
	LastError string
}

// Desired is the artifact the config repository names.
type Desired struct {
	Reference string // repository:version
	Digest    string // what the reference resolved to, when known
}

// Deployed is the artifact the replica serves.
type Deployed struct {
	Version string
	Digest  string
	Since   time.Time // when this version and digest were deployed
}

// Condition is one observation in the style of Kubernetes conditions.
type Condition struct {
	Type           string
	Status         string // "True", "False" or "Unknown"
	Reason         string
	Message        string
	LastTransition time.Time // when Status last changed
}

// document is the YAML form of a status file; field order is the file's key order.
type document struct {
	Org            string         `yaml:"org"`
	Replica        string         `yaml:"replica"`
	ObservedCommit string         `yaml:"observedCommit,omitempty"`
	Desired        *desiredDoc    `yaml:"desired,omitempty"`
	Deployed       *deployedDoc   `yaml:"deployed,omitempty"`
	Phase          string         `yaml:"phase,omitempty"`
	LastTransition string         `yaml:"lastTransition,omitempty"`
	Conditions     []conditionDoc `yaml:"conditions,omitempty"`
	Validation     any            `yaml:"validation,omitempty"`
	Monitoring     any            `yaml:"monitoring,omitempty"`
	LastError      string         `yaml:"lastError,omitempty"`
}

type desiredDoc struct {
	Reference string `yaml:"reference,omitempty"`
	Digest    string `yaml:"digest,omitempty"`
}

type deployedDoc struct {
	Version string `yaml:"version,omitempty"`
	Digest  string `yaml:"digest,omitempty"`
	Since   string `yaml:"since,omitempty"`
}

type conditionDoc struct {
	Type           string `yaml:"type"`
	Status         string `yaml:"status"`
	Reason         string `yaml:"reason,omitempty"`
	Message        string `yaml:"message,omitempty"`
	LastTransition string `yaml:"lastTransition,omitempty"`
}

// Render returns the status file of org as written by replica: YAML with a fixed key order
// (opaque maps sorted by key), timestamps in UTC to the second.
func Render(org, replica string, s Status) ([]byte, error) {
	d := document{
		Org: org, Replica: replica, ObservedCommit: s.ObservedCommit, Phase: string(s.Phase),
		LastTransition: formatTime(s.LastTransition), Validation: s.Validation,
		Monitoring: s.Monitoring, LastError: s.LastError,
	}
	if s.Desired != (Desired{}) {
		d.Desired = &desiredDoc{Reference: s.Desired.Reference, Digest: s.Desired.Digest}
	}
	if s.Deployed.Version != "" || s.Deployed.Digest != "" || !s.Deployed.Since.IsZero() {
		d.Deployed = &deployedDoc{Version: s.Deployed.Version, Digest: s.Deployed.Digest,
			Since: formatTime(s.Deployed.Since)}
	}
	for _, c := range s.Conditions {
		d.Conditions = append(d.Conditions, conditionDoc{Type: c.Type, Status: c.Status,
			Reason: c.Reason, Message: c.Message, LastTransition: formatTime(c.LastTransition)})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&d); err != nil {
		return nil, fmt.Errorf("render status of %s: %w", org, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render status of %s: %w", org, err)
	}
	return buf.Bytes(), nil
}

// Parse reads a status file back. Validation and Monitoring come back as generic YAML
// values (maps, lists, scalars).
func Parse(data []byte) (org, replica string, s Status, err error) {
	var d document
	if err := yaml.Unmarshal(data, &d); err != nil {
		return "", "", Status{}, fmt.Errorf("parse status: %w", err)
	}
	s = Status{ObservedCommit: d.ObservedCommit, Phase: Phase(d.Phase),
		LastTransition: parseTime(d.LastTransition), Validation: d.Validation,
		Monitoring: d.Monitoring, LastError: d.LastError}
	if d.Desired != nil {
		s.Desired = Desired{Reference: d.Desired.Reference, Digest: d.Desired.Digest}
	}
	if d.Deployed != nil {
		s.Deployed = Deployed{Version: d.Deployed.Version, Digest: d.Deployed.Digest, Since: parseTime(d.Deployed.Since)}
	}
	for _, c := range d.Conditions {
		s.Conditions = append(s.Conditions, Condition{Type: c.Type, Status: c.Status, Reason: c.Reason,
			Message: c.Message, LastTransition: parseTime(c.LastTransition)})
	}
	return d.Org, d.Replica, s, nil
}

// stabilize returns cur with its timestamps taken from prev (the status already published,
// nil if none) where the dated value is unchanged, and set to now where it changed and is zero.
func stabilize(prev *Status, cur Status, now time.Time) Status {
	now = now.UTC().Truncate(time.Second)
	if prev != nil && prev.Phase == cur.Phase && !prev.LastTransition.IsZero() {
		cur.LastTransition = prev.LastTransition
	} else if cur.LastTransition.IsZero() && cur.Phase != "" {
		cur.LastTransition = now
	}
	d := cur.Deployed
	if prev != nil && prev.Deployed.Version == d.Version && prev.Deployed.Digest == d.Digest && !prev.Deployed.Since.IsZero() {
		cur.Deployed.Since = prev.Deployed.Since
	} else if d.Since.IsZero() && (d.Version != "" || d.Digest != "") {
		cur.Deployed.Since = now
	}
	if len(cur.Conditions) > 0 {
		conds := make([]Condition, len(cur.Conditions))
		copy(conds, cur.Conditions)
		for i, c := range conds {
			if p := findCondition(prev, c.Type); p != nil && p.Status == c.Status && !p.LastTransition.IsZero() {
				conds[i].LastTransition = p.LastTransition
			} else if c.LastTransition.IsZero() {
				conds[i].LastTransition = now
			}
		}
		cur.Conditions = conds
	}
	return cur
}

func findCondition(s *Status, typ string) *Condition {
	if s == nil {
		return nil
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type == typ {
			return &s.Conditions[i]
		}
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
