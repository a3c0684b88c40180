package policy

import (
	"fmt"
	"strings"
	"time"
)

// AllEvents lists the alert events, the default of Alert.Events.
var AllEvents = []string{"deployed", "deployFailed", "validationFailed", "degraded", "rolledBack", "retention"}

// BuiltinDefaults returns the built-in policy every org starts from, before talon.yaml's
// `defaults` and the org file. It is the one place defaults live:
//
//	trust:      no keys, allowUnsigned false (an org must name keys or opt out loudly)
//	validation: every threshold 0 (off), no schema, dataset from the artifact
//	retention:  maxVersions 10, minAccuracy 0 (off), maxAgeDays 0 (off), keepDeployed 3, schedule @daily
//	window:     no schedule (always open), timezone UTC
//	monitoring: every threshold 0 (off), window 5m, minSamples 100, degradedFor 5m, autoRollback false
//	alerts, access: none; cicd: no automatic promotion
//
// Computed defaults, filled in after the files are read: an alert without events gets
// AllEvents; autoPromote.to is review and autoPromote.branch is talon/promote/<org>.
func BuiltinDefaults() Policy {
	return Policy{
		Validation: Validation{Dataset: Dataset{From: "artifact"}},
		Retention:  Retention{MaxVersions: 10, KeepDeployed: 3, Schedule: "@daily"},
		Window:     Window{Timezone: "UTC"},
		Monitoring: Monitoring{Window: 5 * time.Minute, MinSamples: 100, DegradedFor: 5 * time.Minute},
	}
}

// BuiltinRoot returns talon.yaml's built-in settings: no registry host, poll every 30s,
// status on branch talon-status, and BuiltinDefaults as the org defaults.
func BuiltinRoot() Root {
	return Root{PollInterval: 30 * time.Second, StatusBranch: "talon-status", Defaults: BuiltinDefaults()}
}

// complete fills in the computed defaults of o.
func complete(o *Org, registryHost string) {
	computed := func(path string) { o.Origins[path] = Origin{Kind: BuiltIn} }
	for i := range o.Alerts {
		if len(o.Alerts[i].Events) == 0 {
			o.Alerts[i].Events = append([]string(nil), AllEvents...)
			computed(fmt.Sprintf("alerts[%d].events", i))
		}
	}
	if p := o.CICD.AutoPromote; p != nil {
		if p.To == "" {
			p.To = "review"
			computed("cicd.autoPromote.to")
		}
		if p.Branch == "" && o.Name != "" {
			p.Branch = "talon/promote/" + o.Name
			computed("cicd.autoPromote.branch")
		}
	}
	if registryHost != "" && o.Model.Repository != "" && !hasRegistryHost(o.Model.Repository) {
		o.Model.Repository = registryHost + "/" + o.Model.Repository
	}
}

// hasRegistryHost reports whether repo's first path element is a registry host, by the
// Docker convention: it contains a '.' or ':', or is localhost.
func hasRegistryHost(repo string) bool {
	first, _, ok := strings.Cut(repo, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// OriginKind says which layer set a value.
type OriginKind int

const (
	// BuiltIn: nothing set it; it is the built-in default.
	BuiltIn OriginKind = iota
	// FromDefaults: talon.yaml's `defaults` set it.
	FromDefaults
	// FromFile: the file itself set it (the org file, or talon.yaml for root settings).
	FromFile
)

// Origin says where a value came from.
type Origin struct {
	Kind         OriginKind
	File         string
	Line, Column int
}

// String is "orgs/acme.yaml:7:3", "talon.yaml:12:5 (defaults)" or "built-in default".
func (o Origin) String() string {
	switch o.Kind {
	case FromDefaults:
		return fmt.Sprintf("%s:%d:%d (defaults)", o.File, o.Line, o.Column)
	case FromFile:
		return fmt.Sprintf("%s:%d:%d", o.File, o.Line, o.Column)
	}
	return "built-in default"
}
