package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/registry"
)

func init() { subcommands = append(subcommands, newValidateCmd) }

// problemsFound is the error of a validation that found problems (exit 1).
type problemsFound int

func (n problemsFound) Error() string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", int(n))
}

type validateOpts struct {
	format   string
	explain  bool
	resolve  bool
	insecure []string
}

func newValidateCmd(g *globalFlags) *cobra.Command {
	var o validateOpts
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a config repository checkout: every problem as file:line:col",
		Long: `Validate reads the config repository checked out in DIR (default .): talon.yaml,
orgs/*.yaml and the trust keys and datasets they name, and prints every problem as
file:line:col: message. It exits 0 when the repository is valid, 1 when it has problems,
2 when called wrongly. It never touches the network unless --resolve is given, which also
checks that each org's tag, semver range or digest resolves to a model artifact in its
registry (credentials from the Docker config and credential helpers).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("%s takes at most one DIR (got %d arguments)", cmd.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runValidate(cmd.Context(), cmd.OutOrStdout(), dir, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	f.BoolVar(&o.explain, "explain", false, "also print each effective setting and where it came from (file:line, talon.yaml defaults, or built-in default)")
	f.BoolVar(&o.resolve, "resolve", false, "also resolve each org's model in its registry (network)")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "registry host reachable over plain HTTP with --resolve (loopback always is); repeatable")
	return cmd
}

func runValidate(ctx context.Context, out io.Writer, dir string, o validateOpts) error {
	if o.format != "text" && o.format != "json" {
		return usageError{fmt.Errorf("--format %q: want text or json", o.format)}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usageError{fmt.Errorf("%s is not a directory (want a checkout of a config repository)", dir)}
	}
	cfg, err := policy.Load(ctx, os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	problems := cfg.Problems
	var resolved []resolution
	if o.resolve {
		var opts []registry.Option
		if len(o.insecure) > 0 {
			opts = append(opts, registry.WithInsecureRegistries(o.insecure...))
		}
		client, err := registry.New(opts...)
		if err != nil {
			return usageError{err}
		}
		resolved = resolveAll(ctx, client, cfg.Orgs)
		for _, r := range resolved {
			if r.problem != nil {
				problems = append(problems, *r.problem)
			}
		}
	}
	if o.format == "json" {
		err = writeJSON(out, cfg, problems, resolved, o.explain)
	} else {
		err = writeText(out, dir, cfg, problems, resolved, o.explain)
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return problemsFound(len(problems))
	}
	return nil
}

// resolution is what --resolve found for one org.
type resolution struct {
	org, reference, tag, digest string
	problem                     *policy.Problem
}

// resolveAll resolves every org's model, a few at a time.
func resolveAll(ctx context.Context, c *registry.Client, orgs []*policy.Org) []resolution {
	out := make([]resolution, len(orgs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, o := range orgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = resolveOrg(ctx, c, o)
		}()
	}
	wg.Wait()
	return out
}

// resolveOrg resolves o's model the way the reconciler does (list tags for a semver
// range, tag → digest once) and fetches the manifest by digest to check it is a model.
func resolveOrg(ctx context.Context, c *registry.Client, o *policy.Org) resolution {
	m := o.Model
	r := resolution{org: o.Name, reference: m.String()}
	at := map[policy.RefKind]string{policy.ByTag: "model.version", policy.BySemver: "model.semver", policy.ByDigest: "model.digest"}[m.Kind()]
	fail := func(err error) resolution {
		org := o.Origins[at]
		r.problem = &policy.Problem{File: org.File, Line: org.Line, Column: org.Column, Msg: fmt.Sprintf("--resolve: %v", err)}
		return r
	}
	if m.Kind() == policy.BySemver {
		tags, err := c.ListTags(ctx, m.Repository)
		if err != nil {
			return fail(err)
		}
		if r.tag, err = policy.ResolveSemver(m.Semver, tags); err != nil {
			return fail(fmt.Errorf("%s: %w", m.Repository, err))
		}
		m = m.WithTag(r.tag)
	}
	d, err := c.Resolve(ctx, m.Reference())
	if err != nil {
		return fail(err)
	}
	r.digest = d.DigestStr()
	if _, err := c.Fetch(ctx, d); err != nil {
		return fail(fmt.Errorf("%s: %w", d, err))
	}
	return r
}

func writeText(out io.Writer, dir string, cfg *policy.Config, problems policy.Problems, resolved []resolution, explain bool) error {
	for _, p := range problems {
		fmt.Fprintln(out, p.Error())
	}
	if explain {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "# %s (effective)\n", policy.RootFile)
		writeSettings(tw, cfg.Root.Explain())
		for _, o := range cfg.Orgs {
			fmt.Fprintf(tw, "\n# org %s (%s)\n", o.Name, o.File)
			writeSettings(tw, o.Explain())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range resolved {
		if r.problem == nil {
			tag := ""
			if r.tag != "" {
				tag = " → " + r.tag
			}
			fmt.Fprintf(out, "resolved %s: %s%s → %s\n", r.org, r.reference, tag, r.digest)
		}
	}
	if len(problems) == 0 {
		_, err := fmt.Fprintf(out, "%s: valid (%d orgs)\n", dir, len(cfg.Orgs))
		return err
	}
	return nil
}

// writeSettings prints one setting a line: path: value, then its origin. Unset
// alternatives (empty built-in strings and absent sections) are left out.
func writeSettings(w io.Writer, ss []policy.Setting) {
	for _, s := range ss {
		if s.Origin.Kind == policy.BuiltIn && (s.Value == `""` || s.Value == "null") {
			continue
		}
		fmt.Fprintf(w, "%s: %s\t# %s\n", s.Path, s.Value, s.Origin)
	}
}

type jsonProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

type jsonSetting struct {
	Path   string `json:"path"`
	Value  string `json:"value"`
	Origin string `json:"origin"`
}

type jsonResolved struct {
	Reference string `json:"reference"`
	Tag       string `json:"tag,omitempty"`
	Digest    string `json:"digest"`
}

type jsonReport struct {
	Valid    bool                     `json:"valid"`
	Problems []jsonProblem            `json:"problems"`
	Orgs     []string                 `json:"orgs"`
	Broken   map[string][]jsonProblem `json:"broken"`
	Explain  map[string][]jsonSetting `json:"explain,omitempty"`
	Resolved map[string]jsonResolved  `json:"resolved,omitempty"`
}

func writeJSON(out io.Writer, cfg *policy.Config, problems policy.Problems, resolved []resolution, explain bool) error {
	rep := jsonReport{Valid: len(problems) == 0, Problems: jsonProblems(problems), Orgs: []string{}, Broken: map[string][]jsonProblem{}}
	for _, o := range cfg.Orgs {
		rep.Orgs = append(rep.Orgs, o.Name)
	}
	for org, ps := range cfg.Broken {
		rep.Broken[org] = jsonProblems(ps)
	}
	if explain {
		rep.Explain = map[string][]jsonSetting{policy.RootFile: jsonSettings(cfg.Root.Explain())}
		for _, o := range cfg.Orgs {
			rep.Explain[o.Name] = jsonSettings(o.Explain())
		}
	}
	for _, r := range resolved {
		if r.problem == nil {
			if rep.Resolved == nil {
				rep.Resolved = map[string]jsonResolved{}
			}
			rep.Resolved[r.org] = jsonResolved{Reference: r.reference, Tag: r.tag, Digest: r.digest}
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func jsonProblems(ps policy.Problems) []jsonProblem {
	out := []jsonProblem{}
	for _, p := range ps {
		out = append(out, jsonProblem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Msg})
	}
	return out
}

func jsonSettings(ss []policy.Setting) []jsonSetting {
	out := make([]jsonSetting, len(ss))
	for i, s := range ss {
		out[i] = jsonSetting{Path: s.Path, Value: s.Value, Origin: s.Origin.String()}
	}
	return out
}
