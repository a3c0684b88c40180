package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

func run(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestPushContract: the last line on stdout is REF@sha256:<hex> with REF's tag removed,
// and it names what the registry now serves under the tag.
func TestPushContract(t *testing.T) {
	host := registrytest.Start(t)
	ref := host + "/acme/pdm:v1"
	out, err := run(t, "push", "../../testdata/pdm/pdm-v1.onnx", ref,
		"--metadata", "../../testdata/pdm/pdm-v1.metadata.json", "--dataset", "../../testdata/pdm/validation.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, host+"/acme/pdm@sha256:") || len(last) != len(host+"/acme/pdm@sha256:")+64 {
		t.Fatalf("last line %q is not %s/acme/pdm@sha256:<hex>", last, host)
	}
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Resolve(context.Background(), ref)
	if err != nil || d.String() != last {
		t.Fatalf("registry resolves %s to %v (%v), push printed %s", ref, d, err, last)
	}
	art, err := c.Fetch(context.Background(), d)
	if err != nil || art.Format != registry.FormatModelPack || art.Dataset == nil || art.Metadata == nil {
		t.Fatalf("pushed artifact = %+v, %v; want ModelPack with dataset and metadata", art, err)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"push", "only-one-arg"},
		{"run"},
		{"run", "--config-repo", "x", "--data", "y", "--no-such-flag"},
		{"version", "extra"},
	} {
		_, err := run(t, args...)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("talon %s: err %v, exit %d; want a usage error (exit 2)", strings.Join(args, " "), err, exitCode(err))
		}
	}
	_, err := run(t, "push", "no-such-file.onnx", "127.0.0.1:1/acme/pdm:v1")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "no-such-file.onnx") {
		t.Errorf("push of a missing file: %v (exit %d), want exit 1 naming the file", err, exitCode(err))
	}
	var ue usageError
	if errors.As(err, &ue) {
		t.Error("a missing file is not a usage error")
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "talon ") || !strings.Contains(out, "ONNX Runtime 1.24.1") {
		t.Fatalf("version = %q, %v", out, err)
	}
}
