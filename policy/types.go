package policy

import "time"

// The Go types below are the schema of the config repository. The strict decoder, the
// defaults, `talon validate --explain` and the committed JSON Schemas (policy/schema/) are
// all derived from them by reflection, so a field added here is everywhere at once.
//
// Struct tags: `yaml` names the key; `doc` is the description shown in editors; `talon`
// holds comma-separated constraints: required, min=N, max=N, enum=a|b|c, and named
// checks (orgname, dnslabel, tag, repository, repopath, digest, semver, branch, envname, url,
// subject, cron, window-cron, timezone, nonempty).

// Org is the effective desired state of one organization: orgs/<org>.yaml over the
// defaults of talon.yaml over the built-in defaults (see BuiltinDefaults).
type Org struct {
	// Name is the organization, a lowercase DNS label (see ValidateOrgName).
	Name string `yaml:"org" talon:"required,orgname" doc:"The organization: a lowercase DNS label (a-z, 0-9, '-', at most 63 characters) equal to the file's base name."`
	// Model names the artifact the organization must run.
	Model ModelRef `yaml:"model" talon:"required" doc:"The model artifact this organization runs: a repository and exactly one of version, semver or digest."`
	// Suspend stops reconciling the org; what is deployed keeps serving.
	Suspend bool `yaml:"suspend" doc:"Stop reconciling this organization; the deployed model keeps serving. Default false."`
	// PlaintextDeploy also writes the deployed model unencrypted, for an external server.
	PlaintextDeploy bool `yaml:"plaintextDeploy" doc:"Also write the deployed model unencrypted to models/<org>/deployed for an external inference server. Default false."`
	// Policy holds the sections talon.yaml's defaults can also set.
	Policy `yaml:",inline"`

	// File is the path of the org file in the config repository.
	File string `yaml:"-"`
	// Origins says where each setting came from, by path (such as "retention.maxVersions");
	// a path without an entry has its built-in default. See Org.Explain.
	Origins map[string]Origin `yaml:"-"`
}

// ModelRef names a model artifact: a repository in an OCI registry and exactly one of a tag
// (Version), a semver range over the repository's tags (Semver) or a digest (Digest). It is
// comparable with ==.
type ModelRef struct {
	Repository string `yaml:"repository" talon:"required,repository" doc:"OCI repository without tag or digest, such as registry.example.com/acme/pdm. Without a registry host, talon.yaml's registry.host is prepended."`
	Version    string `yaml:"version" talon:"tag" doc:"An OCI tag; Talon resolves it to a digest once per change."`
	Semver     string `yaml:"semver" talon:"semver" doc:"A semver range such as '>=1.4 <2' (Masterminds/semver syntax); the highest matching tag in the repository is deployed."`
	Digest     string `yaml:"digest" talon:"digest" doc:"A manifest digest, sha256:<64 hex>; pins the artifact exactly."`
}

// Policy is the part of an org's desired state that talon.yaml's `defaults` can set for
// every org. An org file overrides it key by key; a list in an org file replaces the
// default list.
type Policy struct {
	Trust      Trust      `yaml:"trust" doc:"Who may sign this organization's models."`
	Validation Validation `yaml:"validation" doc:"The quality gate a model passes before it is deployed."`
	Retention  Retention  `yaml:"retention" doc:"Which stored versions are deleted, and when."`
	Window     Window     `yaml:"window" doc:"When deployments may happen; rollbacks ignore it. Without a schedule, always."`
	Monitoring Monitoring `yaml:"monitoring" doc:"When a deployed model counts as degraded."`
	Alerts     []Alert    `yaml:"alerts" doc:"Webhooks told about events. An org's list replaces the default list."`
	Access     []Binding  `yaml:"access" doc:"Role bindings for the management API. An org's list replaces the default list. Never put secrets here."`
	CICD       CICD       `yaml:"cicd" doc:"Automatic promotion of newly pushed tags."`
}

// Trust lists the public keys allowed to sign an org's models.
type Trust struct {
	Keys []string `yaml:"keys" talon:"repopath" doc:"Paths in this repository of cosign PEM public keys (-----BEGIN PUBLIC KEY-----); a model signed by any of them is accepted."`
	// AllowUnsigned deploys models without checking signatures. Loud on purpose. An org
	// may set it to opt out of keys inherited from talon.yaml; with keys in the same file
	// it is a problem.
	AllowUnsigned bool `yaml:"allowUnsigned" doc:"Deploy models without verifying signatures, even with keys inherited from talon.yaml. Not for production; Talon flags it on every reconcile. Default false."`
}

// Validation is the quality gate. A zero threshold turns its check off.
type Validation struct {
	MinAccuracy   float64       `yaml:"minAccuracy" talon:"min=0,max=1" doc:"Lowest accuracy on the validation set, 0..1; 0 turns the check off."`
	MaxP50Latency time.Duration `yaml:"maxP50Latency" talon:"min=0" doc:"Highest median latency of one inference, such as 20ms; 0 turns the check off."`
	MaxP99Latency time.Duration `yaml:"maxP99Latency" talon:"min=0" doc:"Highest 99th-percentile latency of one inference, such as 50ms; 0 turns the check off."`
	MaxModelSize  ByteSize      `yaml:"maxModelSize" talon:"min=0" doc:"Largest model file, in bytes or with a unit (10MiB, 500KB); 0 turns the check off."`
	Schema        IOSchema      `yaml:"schema" doc:"The inputs and outputs clients rely on; empty lists are not checked."`
	Dataset       Dataset       `yaml:"dataset" doc:"Where the validation set comes from."`
}

// IOSchema is the expected signature of a model.
type IOSchema struct {
	Inputs  []TensorSpec `yaml:"inputs" doc:"Inputs clients send; the model must accept each of them and need no other."`
	Outputs []TensorSpec `yaml:"outputs" doc:"Outputs clients read; the model must produce each of them."`
}

// TensorSpec is one named tensor: its OIP datatype and shape, with -1 for a dynamic dim.
type TensorSpec struct {
	Name     string  `yaml:"name" talon:"required,nonempty" doc:"Tensor name in the ONNX graph."`
	Datatype string  `yaml:"datatype" talon:"required,enum=BOOL|UINT8|UINT16|UINT32|UINT64|INT8|INT16|INT32|INT64|FP16|FP32|FP64|BF16|BYTES" doc:"Open Inference Protocol datatype, such as FP32."`
	Shape    []int64 `yaml:"shape" talon:"min=-1" doc:"Dimensions; -1 marks a dynamic one (such as the batch)."`
}

// Dataset says where the validation set comes from.
type Dataset struct {
	From string `yaml:"from" talon:"enum=artifact|repo" doc:"artifact: the dataset layer of the model artifact; repo: the file at path in this repository. Default artifact."`
	Path string `yaml:"path" talon:"repopath" doc:"Path in this repository of the validation set, when from is repo."`
}

// Retention says which stored versions are deleted. A zero limit turns its rule off. The
// deployed version and the last known-good version are never deleted.
type Retention struct {
	MaxVersions  int     `yaml:"maxVersions" talon:"min=0" doc:"Keep at most this many stored versions, newest first (protected ones count); 0 turns the rule off. Default 10."`
	MinAccuracy  float64 `yaml:"minAccuracy" talon:"min=0,max=1" doc:"Delete versions whose recorded accuracy is below this, 0..1; 0 turns the rule off."`
	MaxAgeDays   int     `yaml:"maxAgeDays" talon:"min=0" doc:"Delete versions pushed more than this many days ago; 0 turns the rule off."`
	KeepDeployed int     `yaml:"keepDeployed" talon:"min=0" doc:"Also keep the this many most recently deployed earlier versions as rollback targets, whatever the other rules say. Default 3."`
	Schedule     Cron    `yaml:"schedule" talon:"cron" doc:"When retention runs: a 5-field cron expression or @hourly/@daily/@weekly. Default @daily."`
}

// Window is the deployment window: it opens at each activation of Schedule and stays open
// for Duration. An empty Schedule means deployments may happen at any time.
type Window struct {
	Schedule Cron          `yaml:"schedule" talon:"window-cron" doc:"When the window opens: a 5-field cron expression (minute hour day-of-month month day-of-week) or a descriptor such as @daily. Empty: always open."`
	Duration time.Duration `yaml:"duration" talon:"min=0" doc:"How long the window stays open after each opening (elapsed time, such as 4h or 1d). Required with a schedule."`
	Timezone string        `yaml:"timezone" talon:"timezone" doc:"IANA time zone the schedule is read in, such as Europe/Berlin. Default UTC."`
}

// Monitoring says when a deployed model is degraded: a check over the last Window of
// samples breached continuously for DegradedFor. A zero threshold turns its check off.
type Monitoring struct {
	MaxErrorRate  float64       `yaml:"maxErrorRate" talon:"min=0,max=1" doc:"Highest share of failed requests over the window, 0..1; 0 turns the check off."`
	MaxP99Latency time.Duration `yaml:"maxP99Latency" talon:"min=0" doc:"Highest 99th-percentile latency over the window; 0 turns the check off."`
	MinAccuracy   float64       `yaml:"minAccuracy" talon:"min=0,max=1" doc:"Lowest accuracy from labelled feedback over the window, 0..1; 0 turns the check off."`
	Window        time.Duration `yaml:"window" talon:"min=1" doc:"How far back each evaluation looks. Default 5m."`
	MinSamples    int           `yaml:"minSamples" talon:"min=1" doc:"Fewest requests (and labelled answers, for accuracy) in the window to judge at all. Default 100."`
	DegradedFor   time.Duration `yaml:"degradedFor" talon:"min=0" doc:"How long a breach must last before the model is degraded, like a Prometheus alert's for. Default 5m."`
	AutoRollback  bool          `yaml:"autoRollback" doc:"Revert the deploying commit when the model is degraded. Default false."`
}

// Alert is one webhook target.
type Alert struct {
	Name       string   `yaml:"name" talon:"required,dnslabel" doc:"A name for this target, a lowercase DNS label."`
	URL        string   `yaml:"url" talon:"url" doc:"HTTPS endpoint without credentials or query; use urlFromEnv for URLs that carry a secret."`
	URLFromEnv string   `yaml:"urlFromEnv" talon:"envname" doc:"Name of the environment variable of the Talon process that holds the URL."`
	Events     []string `yaml:"events" talon:"enum=deployed|deployFailed|validationFailed|degraded|rolledBack|retention" doc:"Events sent to this target. Default: all."`
}

// Binding gives a role on the org to subjects.
type Binding struct {
	Role     string   `yaml:"role" talon:"required,enum=viewer|deployer|admin" doc:"viewer reads, deployer also deploys and rolls back, admin also changes retention."`
	Subjects []string `yaml:"subjects" talon:"required,subject" doc:"Who holds the role: user:<email>, group:<name> or token:<id> (the token's secret never lives here)."`
}

// CICD is the automatic promotion of newly pushed tags.
type CICD struct {
	AutoPromote *Promotion `yaml:"autoPromote" doc:"Promote newly pushed tags automatically. Absent: never."`
}

// Promotion says which new tags are promoted and where the change goes.
type Promotion struct {
	Semver string `yaml:"semver" talon:"required,semver" doc:"Tags in this semver range are promoted, such as '>=1.4 <2'."`
	To     string `yaml:"to" talon:"enum=review|direct" doc:"review: commit to a branch for a pull request; direct: commit to the tracked branch. Default review."`
	Branch string `yaml:"branch" talon:"branch" doc:"Branch for review commits. Default talon/promote/<org>."`
}

// Root is the effective content of the repository's root talon.yaml.
type Root struct {
	Registry     Registry      `yaml:"registry" doc:"Registry defaults."`
	PollInterval time.Duration `yaml:"pollInterval" talon:"min=1" doc:"How often Talon polls this repository. Default 30s."`
	StatusBranch string        `yaml:"statusBranch" talon:"branch" doc:"Branch Talon writes status to (status/<org>/<replica>.yaml). Default talon-status."`
	Defaults     Policy        `yaml:"defaults" doc:"Settings every org file inherits unless it sets them itself."`

	// Origins says where each setting came from, by path, as in Org.Origins.
	Origins map[string]Origin `yaml:"-"`
}

// Registry holds registry defaults.
type Registry struct {
	Host string `yaml:"host" talon:"repository" doc:"Registry host prepended to model repositories that name none, such as registry.example.com."`
}
