package reconciler_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/reconciler"
	"github.com/eaglenotifier/talon/reconciler/gitops"
	"github.com/eaglenotifier/talon/reconciler/gitops/gittest"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// testdataDir holds the committed PdM models made by testdata/pdm.
const testdataDir = "../testdata/pdm"

// world is a real config repo behind git daemon, a real in-process registry with pushed
// artifacts, and a person's work clone of the config repo.
type world struct {
	t       *testing.T
	repoURL string
	reg     string // registry host
	client  *registry.Client
	clone   *gittest.WorkClone
	digests map[string]string // "org:tag" → pushed digest ref
	keys    string            // org age keys, made on first use
	signer  *cosign.Signer    // CI's signing key; its public key is keys/ci.pub in the repo
	pubPEM  []byte
}

// newSigner makes a cosign key pair for CI.
func newSigner(tb testing.TB) (*cosign.Signer, []byte) {
	tb.Helper()
	priv, pub, err := cosign.GenerateKeyPair([]byte("ci-password"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := cosign.LoadPrivateKey("ci.key", priv, []byte("ci-password"))
	if err != nil {
		tb.Fatal(err)
	}
	return s, pub
}

// orgYAML is an org file trusting CI's key.
func orgYAML(org, repo, tag string) string {
	return fmt.Sprintf("org: %s\nmodel:\n  repository: %s\n  version: %s\ntrust:\n  keys: [keys/ci.pub]\n", org, repo, tag)
}

// key makes org's age key unless it exists.
func (w *world) key(tb testing.TB, org string) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(w.keys, org+store.KeyExt)); err == nil {
		return
	}
	if _, err := store.GenerateKey(w.keys, org); err != nil {
		tb.Fatal(err)
	}
}

func initORT(t testing.TB) {
	t.Helper()
	lib, err := inference.FindORTLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	if err := inference.InitRuntime(lib); err != nil {
		t.Fatal(err)
	}
}

// newWorld starts git daemon and a registry (with mw, e.g. a corrupting middleware) and
// returns them with nothing pushed.
func newWorld(t *testing.T, mw ...registrytest.Middleware) *world {
	t.Helper()
	initORT(t)
	root := t.TempDir()
	gittest.NewBareRepo(t, root, "config")
	url := gittest.StartDaemon(t, root) + "/config.git"
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, repoURL: url, reg: registrytest.Start(t, mw...), client: client, digests: map[string]string{}, keys: t.TempDir()}
	w.signer, w.pubPEM = newSigner(t)
	w.clone = gittest.Clone(t, url, filepath.Join(t.TempDir(), "work"))
	w.clone.Write("keys/ci.pub", string(w.pubPEM))
	return w
}

// push pushes testdata/pdm/<file> as org's repository at tag, with v1's metadata, and
// signs it with CI's key.
func (w *world) push(org, tag, file string) string {
	w.t.Helper()
	d := w.pushUnsigned(org, tag, file)
	digest, err := name.NewDigest(w.repo(org)+"@"+d, name.Insecure)
	if err == nil {
		_, err = cosign.Sign(context.Background(), w.client, digest, w.signer)
	}
	if err != nil {
		w.t.Fatalf("sign %s:%s: %v", org, tag, err)
	}
	return d
}

// pushUnsigned is push without a signature.
func (w *world) pushUnsigned(org, tag, file string) string {
	w.t.Helper()
	d, err := w.client.Push(context.Background(), w.repo(org)+":"+tag, registry.PushInput{
		ModelPath:    testFile(file),
		MetadataPath: filepath.Join(testdataDir, "pdm-v1.metadata.json"),
		DatasetPath:  filepath.Join(testdataDir, "validation.csv"),
	})
	if err != nil {
		w.t.Fatalf("push %s:%s: %v", org, tag, err)
	}
	w.digests[org+":"+tag] = d.DigestStr()
	return d.DigestStr()
}

// testFile is testdata/pdm/<file>, or file itself when it is a path.
func testFile(file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(testdataDir, file)
}

func (w *world) repo(org string) string { return w.reg + "/" + org + "/pdm" }

// desire writes orgs/<org>.yaml for each org→tag, commits with msg and pushes.
func (w *world) desire(msg string, tags map[string]string) string {
	w.t.Helper()
	for org, tag := range tags {
		w.key(w.t, org)
		w.clone.Write("orgs/"+org+".yaml", orgYAML(org, w.repo(org), tag))
	}
	sha := w.clone.Commit(msg)
	w.clone.Push()
	return sha
}

// reconciler builds a Reconciler over a fresh data dir (or dataDir when given).
func (w *world) reconciler(dataDir string) (*reconciler.Reconciler, *inference.Cache, *store.Store) {
	w.t.Helper()
	return w.newReconciler(w.t, dataDir, reconciler.Options{})
}

// reconcilerB is reconciler for benchmarks.
func (w *world) reconcilerB(b *testing.B) (*reconciler.Reconciler, *inference.Cache, *store.Store) {
	return w.newReconciler(b, "", reconciler.Options{})
}

func (w *world) newReconciler(tb testing.TB, dataDir string, opts reconciler.Options) (*reconciler.Reconciler, *inference.Cache, *store.Store) {
	tb.Helper()
	if dataDir == "" {
		dataDir = tb.TempDir()
	}
	st, err := store.Open(dataDir, store.WithKeyDir(w.keys))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := gitops.Open(context.Background(), filepath.Join(dataDir, "config.git"), w.repoURL, gitops.WithMaxFileSize(64<<20))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	cache := inference.NewCache()
	tb.Cleanup(cache.Close)
	return reconciler.New(m, w.client, st, cache, opts), cache, st
}

// fileDigest is the sha256 of a testdata file, as a layer digest.
func fileDigest(t testing.TB, file string) v1.Hash {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, file))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
}

// typical is a sensor row whose failure probability differs clearly between v1 and v2.
var typical = [pdm.NumFeatures]float32{86, 5.5, 5.8, 33, 2100, 13000}

// expect returns the failure probability weights w give the typical row.
func expect(w pdm.Weights) float32 { return pdm.Predict(w, typical) }

// predict runs the typical row through org's serving model in the cache.
func predict(t testing.TB, c *inference.Cache, org string) (inference.ModelInfo, float32) {
	t.Helper()
	m, release, ok := c.Acquire(org)
	if !ok {
		t.Fatalf("%s is not serving", org)
	}
	defer release()
	out, err := m.Infer(context.Background(), []inference.Tensor{{
		Name: pdm.InputName, Datatype: "FP32", Shape: []int64{1, pdm.NumFeatures}, Data: typical[:],
	}}, nil)
	if err != nil {
		t.Fatalf("infer %s: %v", org, err)
	}
	return m.Info(), out[0].Data.([]float32)[0]
}

func near(a, b float32) bool { d := a - b; return d < 1e-5 && d > -1e-5 }
