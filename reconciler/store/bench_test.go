package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

const mib = 1 << 20

var benchSizes = []int{64 * mib, 512 * mib}

// bigModel writes a valid PdM model of size bytes (v1 padded with an unused initializer).
func bigModel(b *testing.B, size int) string {
	b.Helper()
	m, err := pdm.ModelWithPadding(pdm.V1(), size)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "big.onnx")
	if err := os.WriteFile(p, m, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// pushBig pushes a model of size bytes to the in-process registry at host and returns
// its reference and the model file.
func pushBig(b *testing.B, client *registry.Client, host string, size int) (ref, file string) {
	b.Helper()
	ref = fmt.Sprintf("%s/acme/pdm:big%d", host, size/mib)
	file = bigModel(b, size)
	if _, err := client.Push(context.Background(), ref, registry.PushInput{ModelPath: file}); err != nil {
		b.Fatal(err)
	}
	return ref, file
}

// cpSync runs the cp and sync commands on src and returns how long they took.
func cpSync(b *testing.B, src string) time.Duration {
	b.Helper()
	dst := filepath.Join(b.TempDir(), "copy.onnx")
	defer os.Remove(dst)
	start := time.Now()
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v: %s", err, out)
	}
	if out, err := exec.Command("sync", dst).CombinedOutput(); err != nil {
		b.Fatalf("sync: %v: %s", err, out)
	}
	return time.Since(start)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pullEncryptDeploy is Talon's path for a new version: resolve the tag once, fetch the
// manifest by digest, stream the model layer through digest verification, sha256 and
// encryption into the store (write, fsync, rename, fsync dir), then swap the deployed
// symlink durably.
func pullEncryptDeploy(ctx context.Context, client *registry.Client, ref string, st *store.Store) error {
	d, err := client.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	art, err := client.Fetch(ctx, d)
	if err != nil {
		return err
	}
	rc, err := art.OpenModel(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	rec := store.Record{Org: "acme", Version: "big", Digest: d.DigestStr(), ModelDigest: art.Model.Digest.String()}
	if _, err := st.Put(ctx, rec, rc); err != nil {
		return err
	}
	return st.Deploy(ctx, "acme", "big", "bench")
}

func newKeyDir(b *testing.B) string {
	b.Helper()
	keys := filepath.Join(b.TempDir(), "keys")
	if _, err := store.GenerateKey(keys, "acme"); err != nil {
		b.Fatal(err)
	}
	return keys
}

// BenchmarkPullEncryptDeploy measures pullEncryptDeploy from an in-process registry into
// an encrypted store, and into an unencrypted one to show what encryption costs. Each
// iteration also runs cp and sync on the same bytes (timer stopped), so the reported
// x-cp-sync ratio (cp+sync time / pull time, i.e. pull throughput as a fraction of
// cp+sync's) compares runs made under the same disk and CPU conditions; cpu-s/op is the
// process's user+system CPU time per pull (registry server included). Run with -bench;
// 512 MiB takes a few seconds per iteration. BenchmarkCpSync is the plain baseline.
func BenchmarkPullEncryptDeploy(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size/mib), func(b *testing.B) {
			host := registrytest.Start(b)
			client, err := registry.New()
			if err != nil {
				b.Fatal(err)
			}
			ref, file := pushBig(b, client, host, size)
			keys := newKeyDir(b)
			for _, encrypted := range []bool{true, false} {
				opt, name := store.WithKeyDir(keys), "encrypted"
				if !encrypted {
					opt, name = store.WithoutEncryptionUnsafe(), "plaintext-store"
				}
				b.Run(name, func(b *testing.B) {
					b.SetBytes(int64(size))
					var cp, pull, cpu time.Duration
					for b.Loop() {
						b.StopTimer()
						cp += cpSync(b, file)
						dir := filepath.Join(b.TempDir(), "data")
						st, err := store.Open(dir, opt)
						if err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						start, cpu0 := time.Now(), cpuTime()
						if err := pullEncryptDeploy(context.Background(), client, ref, st); err != nil {
							b.Fatal(err)
						}
						pull += time.Since(start)
						cpu += cpuTime() - cpu0
						b.StopTimer()
						os.RemoveAll(dir)
						b.StartTimer()
					}
					b.ReportMetric(cp.Seconds()/pull.Seconds(), "x-cp-sync")
					b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
				})
			}
		})
	}
}

// BenchmarkCpSync is the baseline: the cp and sync commands on the same bytes, same disk.
func BenchmarkCpSync(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size/mib), func(b *testing.B) {
			src := bigModel(b, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				cpSync(b, src)
			}
		})
	}
}

// Environment of the child process of BenchmarkPullPeakRSS.
const (
	rssRef  = "TALON_STORE_RSS_REF"
	rssData = "TALON_STORE_RSS_DATA"
	rssKeys = "TALON_STORE_RSS_KEYS"
	rssRead = "TALON_STORE_RSS_READ"
)

// BenchmarkPullPeakRSS reports the peak RSS of a fresh process that runs
// pullEncryptDeploy for a 64 MiB and a 512 MiB artifact. The registry runs in this
// process (it keeps blobs in memory); the pull runs in a child: this test binary run
// again for this benchmark alone, told what to pull through its environment. The child
// reports VmHWM from /proc/self/status (the peak RSS of its own address space) at the end.
// (wait4's ru_maxrss would not do: Go starts children with CLONE_VM, and exec records
// the parent's peak in the child's.) As a control that the measurement sees memory grow,
// it also reports a pull followed by ReadModel, which decrypts the model into memory (as
// loading it into ONNX Runtime needs).
func BenchmarkPullPeakRSS(b *testing.B) {
	if ref := os.Getenv(rssRef); ref != "" {
		pullChild(b, ref)
		return
	}
	host := registrytest.Start(b)
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	keys := newKeyDir(b)
	refs := map[int]string{}
	for _, size := range benchSizes {
		refs[size], _ = pushBig(b, client, host, size)
	}
	for b.Loop() {
		for _, read := range []bool{false, true} {
			for _, size := range benchSizes {
				cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkPullPeakRSS$", "-test.benchtime=1x")
				cmd.Env = append(os.Environ(), rssRef+"="+refs[size], rssData+"="+b.TempDir(), rssKeys+"="+keys,
					fmt.Sprintf("%s=%v", rssRead, read))
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child pull of %d MiB: %v\n%s", size/mib, err, out)
				}
				m := hwmLine.FindSubmatch(out)
				if m == nil {
					b.Fatalf("child printed no peak RSS:\n%s", out)
				}
				kib, _ := strconv.Atoi(string(m[1]))
				unit := fmt.Sprintf("MiB-peakRSS-pull-%dMiB", size/mib)
				if read {
					unit = fmt.Sprintf("MiB-peakRSS-pull+ReadModel-%dMiB", size/mib)
				}
				b.ReportMetric(float64(kib)/1024, unit)
			}
		}
	}
}

func pullChild(b *testing.B, ref string) {
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(os.Getenv(rssData), store.WithKeyDir(os.Getenv(rssKeys)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := pullEncryptDeploy(ctx, client, ref, st); err != nil {
		b.Fatal(err)
	}
	if os.Getenv(rssRead) == "true" {
		m, _, err := st.ReadModel("acme", "big")
		if err != nil || len(m) == 0 {
			b.Fatalf("ReadModel: %v", err)
		}
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s*(\d+) kB`).FindSubmatch(status)
	if m == nil {
		b.Fatalf("no VmHWM in /proc/self/status")
	}
	fmt.Printf("talon-peak-rss-kib %s\n", m[1])
}

// hwmLine is what pullChild prints.
var hwmLine = regexp.MustCompile(`(?m)^talon-peak-rss-kib (\d+)$`)
