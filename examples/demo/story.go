package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

// machine is the sensor row the story asks about: a warm, vibrating motor 13000 hours past its overhaul.
var machine = [pdm.NumFeatures]float32{86, 5.5, 5.8, 33, 2100, 13000}

const waitTimeout = 60 * time.Second

// pushModels writes v1 and v2 of the PdM model with metadata and a validation set, pushes
// both versions for every org with `talon push`'s code and signs each pushed digest with a
// new cosign key pair, as CI would. It returns the pushed digest references and the
// public key PEM the orgs trust.
func pushModels(ctx context.Context, dir, regHost string) ([]string, []byte, error) {
	data := pdm.Dataset(42, 500)
	dataset := filepath.Join(dir, "validation.csv")
	f, err := os.Create(dataset)
	if err != nil {
		return nil, nil, err
	}
	if err := pdm.WriteCSV(f, data); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	client, err := registry.New()
	if err != nil {
		return nil, nil, err
	}
	priv, pub, err := cosign.GenerateKeyPair([]byte(demoPassword))
	if err != nil {
		return nil, nil, err
	}
	signer, err := cosign.LoadPrivateKey("ci.key", priv, []byte(demoPassword))
	if err != nil {
		return nil, nil, err
	}
	var pushed []string
	for _, v := range []struct {
		tag string
		w   pdm.Weights
	}{{"v1", pdm.V1()}, {"v2", pdm.V2()}} {
		model, meta, err := writeVersion(dir, v.tag, v.w, data)
		if err != nil {
			return nil, nil, err
		}
		for _, org := range orgs {
			ref := fmt.Sprintf("%s/%s/pdm:%s", regHost, org, v.tag)
			d, err := client.Push(ctx, ref, registry.PushInput{ModelPath: model, MetadataPath: meta, DatasetPath: dataset})
			if err == nil {
				_, err = cosign.Sign(ctx, client, d, signer)
			}
			if err != nil {
				return nil, nil, err
			}
			pushed = append(pushed, d.String())
		}
	}
	return pushed, pub, nil
}

// demoPassword encrypts the demo's throwaway CI signing key.
const demoPassword = "talon-demo"

func writeVersion(dir, tag string, w pdm.Weights, data []pdm.Sample) (model, meta string, err error) {
	b, err := pdm.Model(w)
	if err != nil {
		return "", "", err
	}
	model = filepath.Join(dir, "pdm-"+tag+".onnx")
	if err := os.WriteFile(model, b, 0o644); err != nil {
		return "", "", err
	}
	mb, err := json.MarshalIndent(pdm.MetadataFor(tag, w, data), "", "  ")
	if err != nil {
		return "", "", err
	}
	meta = filepath.Join(dir, "pdm-"+tag+".metadata.json")
	return model, meta, os.WriteFile(meta, mb, 0o644)
}

// story shows the GitOps loop: v1 serving, a commit to v2, a git revert back to v1, with
// a real prediction from ONNX Runtime at each step.
func story(ctx context.Context, out io.Writer, git gitCLI, base, regHost string, hookSecret []byte) error {
	show := func(step, org string, p prediction) {
		fmt.Fprintf(out, "%s\n    %s %s (%s, config %s): failure probability %.3f\n",
			step, org, p.Version, short(p.Digest, 19), short(p.Commit, 7), p.Probability)
	}
	p, err := waitFor(ctx, base, "acme", "v1", machine, waitTimeout)
	if err != nil {
		return err
	}
	show("\n① v1 is serving", "acme", p)
	if g, err := waitFor(ctx, base, "globex", "v1", machine, waitTimeout); err != nil {
		return err
	} else {
		show("   globex too:", "globex", g)
	}

	bump, err := git.commitFiles(ctx, "acme: deploy v2", map[string]string{"orgs/acme.yaml": orgYAML("acme", regHost, "v2")})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n② git commit %s \"acme: deploy v2\" && git push, and the Git host's push webhook\n", short(bump, 7))
	start := time.Now()
	if err := pushHook(ctx, base, hookSecret, bump); err != nil {
		return err
	}
	if p, err = waitFor(ctx, base, "acme", "v2", machine, waitTimeout); err != nil {
		return err
	}
	show(fmt.Sprintf("   v2 serving %.2fs after the push (webhook)", time.Since(start).Seconds()), "acme", p)

	rev, err := git.revert(ctx, bump)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n③ git revert %s (→ %s) && git push, no webhook this time\n", short(bump, 7), short(rev, 7))
	start = time.Now()
	if p, err = waitFor(ctx, base, "acme", "v1", machine, waitTimeout); err != nil {
		return err
	}
	show(fmt.Sprintf("   back on v1 %.2fs after the push (the next poll), from the local store", time.Since(start).Seconds()), "acme", p)
	return nil
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
