package hooks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// push is a parsed push payload with what the handler needs to decide.
type push struct {
	PushEvent
	ref     string
	deleted bool
}

// pushPayload holds the fields Talon reads from GitHub's push and GitLab's Push Hook
// payloads; both put ref, before and after at the top level.
type pushPayload struct {
	ObjectKind string `json:"object_kind"` // GitLab: "push"
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"` // GitHub
	Repository struct {
		FullName string `json:"full_name"` // GitHub
	} `json:"repository"`
	Project struct {
		PathWithNamespace string `json:"path_with_namespace"` // GitLab
	} `json:"project"`
}

var commitPattern = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// parsePush reads a push payload of p.
func parsePush(p Provider, body []byte) (push, error) {
	var pl pushPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return push{}, fmt.Errorf("%w: %s push payload: %v", ErrMalformed, p, err)
	}
	if p == GitLab && pl.ObjectKind != "push" {
		return push{}, fmt.Errorf("%w: GitLab Push Hook with object_kind %q", ErrMalformed, pl.ObjectKind)
	}
	if pl.Ref == "" {
		return push{}, fmt.Errorf("%w: %s push payload has no ref", ErrMalformed, p)
	}
	if !commitPattern.MatchString(pl.After) {
		return push{}, fmt.Errorf("%w: %s push payload's after %q is not a commit id", ErrMalformed, p, truncate(pl.After, 80))
	}
	ev := push{ref: pl.Ref, PushEvent: PushEvent{Provider: p, After: pl.After}}
	ev.Branch, _ = strings.CutPrefix(pl.Ref, "refs/heads/")
	if ev.Branch == pl.Ref {
		ev.Branch = ""
	}
	ev.deleted = pl.Deleted || strings.Trim(pl.After, "0") == ""
	ev.Repository = pl.Repository.FullName
	if p == GitLab {
		ev.Repository = pl.Project.PathWithNamespace
	}
	return ev, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
