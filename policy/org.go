// Package policy owns the config repository's schema: it parses org files into desired
// state with file:line:column errors and makes the decisions that need no I/O.
package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// OrgDir is the directory of the config repository that holds one file per organization.
const OrgDir = "orgs"

var orgName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateOrgName reports whether name is a safe organization name: a lowercase DNS label
// (RFC 1123: a-z, 0-9 and '-', 1 to 63 characters, starting and ending alphanumeric). Such a
// name can never traverse a path, so it is used as a directory name as it is.
func ValidateOrgName(name string) error {
	if !orgName.MatchString(name) {
		return fmt.Errorf("org name %q is not a lowercase DNS label (a-z, 0-9, '-', at most 63, alphanumeric at both ends)", name)
	}
	return nil
}

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidateVersion reports whether v is a valid OCI tag, which is also a safe file-name part.
func ValidateVersion(v string) error {
	if !tagPattern.MatchString(v) {
		return fmt.Errorf("version %q is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", v)
	}
	return nil
}

// Problem is one error found in a config repository file, positioned at file:line:column.
type Problem struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error formats the problem as file:line:col: message.
func (p Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
}

// Problems is every problem found in one parse, sorted by file and position.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Msg < b.Msg
	})
	return ps
}

// unique drops repeats from sorted problems (an inherited value's problem is found once
// per org that inherits it).
func (ps Problems) unique() Problems {
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p != ps[i-1] {
			out = append(out, p)
		}
	}
	return out
}
