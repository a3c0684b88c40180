package policy

import (
	"path"
	"sort"
	"strings"
)

// File is one file of the config repository: its slash-separated path and contents.
type File struct {
	Path string
	Data []byte
}

// Desired is the desired state read from a config repository at one commit.
type Desired struct {
	// Orgs are the organizations whose files parsed cleanly, sorted by name.
	Orgs []*Org
	// Broken maps an org (named by its file's base name) to the problems of its file. An
	// org with a broken file keeps what it runs; other orgs are unaffected.
	Broken map[string]Problems
}

// ParseDesired parses every orgs/*.yaml file with ParseOrg (built-in defaults, file-only
// checks). Problems in one file never hide another org: each file is parsed on its own,
// and two files claiming one org are both broken. Load supersedes it: Load also applies
// talon.yaml and checks trust keys and dataset paths (Config.Desired gives the same view).
func ParseDesired(files []File) Desired {
	d := Desired{Broken: map[string]Problems{}}
	byName := map[string]*Org{}
	for _, f := range files {
		key := strings.TrimSuffix(path.Base(f.Path), path.Ext(f.Path))
		o, err := ParseOrg(f.Path, f.Data)
		if err != nil {
			ps, ok := err.(Problems)
			if !ok {
				ps = Problems{{File: f.Path, Msg: err.Error()}}
			}
			d.Broken[key] = ps
			continue
		}
		if prev, dup := byName[o.Name]; dup {
			p := Problem{File: f.Path, Msg: "org " + o.Name + " is also claimed by " + prev.File}
			d.Broken[o.Name] = append(d.Broken[o.Name], p)
			continue
		}
		byName[o.Name] = o
	}
	for name, o := range byName {
		if _, bad := d.Broken[name]; bad {
			continue
		}
		d.Orgs = append(d.Orgs, o)
	}
	sort.Slice(d.Orgs, func(i, j int) bool { return d.Orgs[i].Name < d.Orgs[j].Name })
	return d
}
