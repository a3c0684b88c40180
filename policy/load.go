package policy

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	// RootFile is the repository's optional root settings file.
	RootFile = "talon.yaml"
	// MaxFileSize is the largest talon.yaml, org file or trust key Load reads: 1 MiB.
	MaxFileSize = 1 << 20
	// MaxOrgFiles is the most files Load accepts in orgs/.
	MaxOrgFiles = 10000
)

// Config is a config repository as Load read it.
type Config struct {
	// Root is the effective talon.yaml (built-in settings when the file is absent).
	Root Root
	// Orgs are the organizations without problems, sorted by name.
	Orgs []*Org
	// Broken maps an org (named by its file's base name) to the problems that keep it from
	// being applied. Such an org keeps serving its last good model; other orgs go on. When
	// talon.yaml has problems, every org is broken.
	Broken map[string]Problems
	// Problems is every problem of the repository, sorted and without repeats: what
	// `talon validate` prints. Empty means the repository is valid.
	Problems Problems
	// Keys maps each trust key path that a valid org names to its PEM bytes (checked to be
	// a PKIX public key).
	Keys map[string][]byte
}

// Org returns the valid org named name, or nil.
func (c *Config) Org(name string) *Org {
	i := sort.Search(len(c.Orgs), func(i int) bool { return c.Orgs[i].Name >= name })
	if i < len(c.Orgs) && c.Orgs[i].Name == name {
		return c.Orgs[i]
	}
	return nil
}

// Desired returns the orgs and broken orgs as a Desired.
func (c *Config) Desired() Desired { return Desired{Orgs: c.Orgs, Broken: c.Broken} }

// Load reads a config repository from fsys: the optional root talon.yaml and every
// orgs/*.yaml, and checks what they refer to (trust keys, dataset paths). All problems of
// the repository come back at once in Config.Problems, and per org in Config.Broken; a
// broken org file never hides the others. Files are refused without being read when they
// are symlinks (which could point outside the repository), not regular files, or larger
// than MaxFileSize; binary data, YAML alias bombs (MaxNodes) and more than MaxOrgFiles
// files are refused too.
//
// The error is non-nil only when Load could not read the repository at all (ctx ended, or
// listing orgs/ failed other than by its absence); a repository without talon.yaml or
// orgs/ is valid and empty.
func Load(ctx context.Context, fsys fs.FS) (*Config, error) {
	l := &loader{ctx: ctx, fsys: fsys, keys: map[string]keyResult{}}
	return l.load()
}

type loader struct {
	ctx     context.Context
	fsys    fs.FS
	keys    map[string]keyResult
	rootPos map[string]*yaml.Node
}

type keyResult struct {
	pem []byte
	msg string // why the key is unusable; "" when usable
}

func (l *loader) load() (*Config, error) {
	cfg := &Config{Root: BuiltinRoot(), Broken: map[string]Problems{}, Keys: map[string][]byte{}}
	cfg.Root.Origins = map[string]Origin{}
	var all Problems
	data, msg, err := l.read(RootFile, MaxFileSize)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case msg != "":
		all = append(all, Problem{File: RootFile, Msg: msg})
	case err == nil:
		var ps Problems
		cfg.Root, l.rootPos, ps = parseRoot(RootFile, data)
		all = append(all, ps...)
	}
	rootBroken := len(all) > 0

	files, ps, err := l.orgFiles()
	if err != nil {
		return nil, err
	}
	all = append(all, ps...)
	for _, p := range ps {
		cfg.Broken[orgKey(p.File)] = append(cfg.Broken[orgKey(p.File)], p)
	}
	byName := map[string]*Org{}
	for _, f := range files {
		if err := l.ctx.Err(); err != nil {
			return nil, err
		}
		key := orgKey(f)
		o, ps := l.org(f, &cfg.Root)
		all = append(all, ps...)
		if len(ps) > 0 {
			cfg.Broken[key] = append(cfg.Broken[key], ps...)
			continue
		}
		if prev := byName[o.Name]; prev != nil {
			p := Problem{File: f, Msg: fmt.Sprintf("org %s is also claimed by %s", o.Name, prev.File)}
			all = append(all, p)
			cfg.Broken[o.Name] = append(cfg.Broken[o.Name], p)
			continue
		}
		byName[o.Name] = o
	}
	if rootBroken {
		for _, f := range files {
			name := orgKey(f)
			cfg.Broken[name] = append(cfg.Broken[name], Problem{File: RootFile,
				Msg: fmt.Sprintf("talon.yaml has problems, so %s cannot be applied; fix them first", name)})
		}
	}
	for name, o := range byName {
		if _, bad := cfg.Broken[name]; bad {
			continue
		}
		cfg.Orgs = append(cfg.Orgs, o)
		for _, k := range o.Trust.Keys {
			cfg.Keys[k] = l.keys[k].pem
		}
	}
	sort.Slice(cfg.Orgs, func(i, j int) bool { return cfg.Orgs[i].Name < cfg.Orgs[j].Name })
	for k, ps := range cfg.Broken {
		cfg.Broken[k] = ps.sorted()
	}
	cfg.Problems = all.sorted().unique()
	return cfg, nil
}

// orgKey is the org a file of orgs/ stands for: its base name without extension.
func orgKey(file string) string {
	base := path.Base(file)
	return strings.TrimSuffix(base, path.Ext(base))
}

// orgFiles lists orgs/*.yaml. Problems come for .yml files and symlinks in orgs/ (their
// org is broken rather than silently absent); subdirectories and other files are ignored.
func (l *loader) orgFiles() ([]string, Problems, error) {
	if msg, err := l.checkPath(OrgDir, true, 0); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	} else if msg != "" {
		return nil, Problems{{File: OrgDir, Msg: msg}}, nil
	}
	entries, err := fs.ReadDir(l.fsys, OrgDir)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s/: %w", OrgDir, err)
	}
	var files []string
	var ps Problems
	for _, e := range entries {
		name, p := e.Name(), path.Join(OrgDir, e.Name())
		ext := path.Ext(name)
		switch {
		case e.Type()&fs.ModeSymlink != 0 && (ext == ".yaml" || ext == ".yml"):
			ps = append(ps, Problem{File: p, Msg: "is a symlink; Talon reads only regular files (a symlink could point outside the repository)"})
		case e.IsDir():
		case ext == ".yml":
			ps = append(ps, Problem{File: p, Msg: fmt.Sprintf("org files end in .yaml: rename it to %s.yaml", strings.TrimSuffix(p, ext))})
		case ext == ".yaml":
			files = append(files, p)
		}
	}
	if len(files) > MaxOrgFiles {
		return nil, Problems{{File: OrgDir, Msg: fmt.Sprintf("%d org files, more than the %d Talon reads", len(files), MaxOrgFiles)}}, nil
	}
	sort.Strings(files)
	return files, ps, nil
}

// org reads, parses and checks one org file, including what it refers to in the repo.
func (l *loader) org(file string, root *Root) (*Org, Problems) {
	data, msg, err := l.read(file, MaxFileSize)
	if msg != "" || err != nil {
		if msg == "" {
			msg = "cannot read: " + err.Error()
		}
		return nil, Problems{{File: file, Msg: msg}}
	}
	c := parseOrg(file, data, root, l.rootPos)
	if c.o == nil {
		return nil, c.ps
	}
	l.repoChecks(c)
	return c.o, c.ps
}

// repoChecks checks what an org refers to elsewhere in the repository.
func (l *loader) repoChecks(c *checker) {
	o := c.o
	if len(o.Trust.Keys) == 0 && !o.Trust.AllowUnsigned && !c.bad["trust.keys"] {
		c.add("trust", "no trust.keys: name the public keys that sign this org's models (or set trust.allowUnsigned: true, not for production)")
	}
	for i, k := range o.Trust.Keys {
		if k == "" { // refused by the decoder already
			continue
		}
		if r := l.key(k); r.msg != "" {
			c.add(fmt.Sprintf("trust.keys[%d]", i), "trust key %s: %s", k, r.msg)
		}
	}
	if ds := o.Validation.Dataset; ds.From == "repo" && ds.Path != "" {
		if msg, err := l.checkPath(ds.Path, false, 0); err != nil {
			c.add("validation.dataset.path", "validation set %s: %v", ds.Path, notExistMsg(err))
		} else if msg != "" {
			c.add("validation.dataset.path", "validation set %s: %s", ds.Path, msg)
		}
	}
}

func notExistMsg(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "no such file in the repository"
	}
	return err.Error()
}

// key reads and checks a trust key once per Load.
func (l *loader) key(p string) keyResult {
	if r, ok := l.keys[p]; ok {
		return r
	}
	data, msg, err := l.read(p, MaxFileSize)
	var r keyResult
	switch {
	case err != nil:
		r.msg = notExistMsg(err)
	case msg != "":
		r.msg = msg
	default:
		r = parseKey(data)
	}
	l.keys[p] = r
	return r
}

// parseKey accepts a PEM "PUBLIC KEY" block holding a PKIX public key, the format of
// cosign's .pub files.
func parseKey(data []byte) keyResult {
	b, rest := pem.Decode(data)
	switch {
	case b == nil:
		return keyResult{msg: "not a PEM file (want -----BEGIN PUBLIC KEY-----, as cosign writes)"}
	case strings.Contains(b.Type, "PRIVATE"):
		return keyResult{msg: "is a PRIVATE key: remove it from the repository now and rotate it; commit only the .pub file"}
	case b.Type != "PUBLIC KEY":
		return keyResult{msg: fmt.Sprintf("PEM block %q is not a PUBLIC KEY", b.Type)}
	case len(strings.TrimSpace(string(rest))) > 0:
		return keyResult{msg: "more than one PEM block; one key per file"}
	}
	if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
		return keyResult{msg: "the PUBLIC KEY block does not hold a valid PKIX public key (ECDSA, Ed25519 or RSA)"}
	}
	return keyResult{pem: data}
}

// read returns the content of the regular file p, at most max bytes. msg explains why a
// file in the repository is refused; err is fs.ErrNotExist (wrapped) for a missing file,
// or a failure that is not the repository's fault.
func (l *loader) read(p string, max int64) (data []byte, msg string, err error) {
	if err := l.ctx.Err(); err != nil {
		return nil, "", err
	}
	if msg, err := l.checkPath(p, false, max); msg != "" || err != nil {
		return nil, msg, err
	}
	f, err := l.fsys.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
		return nil, "cannot read: " + err.Error(), nil
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, "cannot read: " + err.Error(), nil
	}
	if int64(len(data)) > max {
		return nil, fmt.Sprintf("larger than the %d-byte limit; refused without parsing", max), nil
	}
	return data, "", nil
}

// checkPath checks every element of p without following symlinks (when fsys can tell
// them), then that p is a regular file (or a directory, when dir) of at most max bytes
// (0: any size).
func (l *loader) checkPath(p string, dir bool, max int64) (string, error) {
	if !fs.ValidPath(p) {
		return fmt.Sprintf("%q is not a path inside the repository", p), nil
	}
	parts := strings.Split(p, "/")
	var info fs.FileInfo
	for i := range parts {
		q := strings.Join(parts[:i+1], "/")
		var err error
		if _, ok := l.fsys.(fs.ReadLinkFS); ok {
			info, err = fs.Lstat(l.fsys, q)
		} else {
			info, err = fs.Stat(l.fsys, q)
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("%s: %w", q, fs.ErrNotExist)
			}
			return "cannot read: " + err.Error(), nil
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return fmt.Sprintf("%s is a symlink; Talon reads only regular files (a symlink could point outside the repository)", q), nil
		}
	}
	switch {
	case dir && !info.IsDir():
		return "is not a directory", nil
	case dir:
		return "", nil
	case !info.Mode().IsRegular():
		return fmt.Sprintf("is not a regular file (%s)", info.Mode().Type()), nil
	case max > 0 && info.Size() > max:
		return fmt.Sprintf("is %d bytes, over the %d-byte limit; refused without reading", info.Size(), max), nil
	}
	return "", nil
}
