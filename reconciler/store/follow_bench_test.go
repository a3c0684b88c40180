package store_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
)

// BenchmarkReadIntoFollow measures what storing a pull costs the stream it stores, on the
// reconciler's path for a new version (Put with ReadInto: the plaintext is kept for the
// load while the encryption and the durable write follow it). Each iteration opens the
// 64 MiB model layer twice, in turn: once read alone into a buffer to its verified end
// (the floor), once through Put into an encrypted store. Reported as medians:
// ms/alone, ms/verified (Put's OnVerified: when the load could start), ms/stored (Put
// returned: fsynced and renamed) and the ratios verified/alone and stored/alone.
func BenchmarkReadIntoFollow(b *testing.B) {
	const size = 64 * mib
	host := registrytest.Start(b)
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := pushBig(b, client, host, size)
	keys := newKeyDir(b)
	ctx := context.Background()
	d, err := client.Resolve(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	art, err := client.Fetch(ctx, d)
	if err != nil {
		b.Fatal(err)
	}
	var alone, verified, stored []time.Duration
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(filepath.Join(b.TempDir(), "data"), store.WithKeyDir(keys))
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the previous iteration's writeback settle
		b.StartTimer()

		start := time.Now()
		if err := readAlone(ctx, art, make([]byte, art.Model.Size)); err != nil {
			b.Fatal(err)
		}
		alone = append(alone, time.Since(start))

		start = time.Now()
		rc, err := art.OpenModel(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var at time.Duration
		rec := store.Record{Org: "acme", Version: "big", Digest: d.DigestStr(), ModelDigest: art.Model.Digest.String()}
		_, err = st.Put(ctx, rec, rc, store.ReadInto(make([]byte, art.Model.Size)), store.OnVerified(func() { at = time.Since(start) }))
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		stored = append(stored, time.Since(start))
		verified = append(verified, at)
	}
	p50 := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	b.ReportMetric(p50(alone), "ms/alone")
	b.ReportMetric(p50(verified), "ms/verified")
	b.ReportMetric(p50(stored), "ms/stored")
	b.ReportMetric(p50(verified)/p50(alone), "verified/alone")
	b.ReportMetric(p50(stored)/p50(alone), "stored/alone")
}

// readAlone reads the model layer into buf and to its verified end.
func readAlone(ctx context.Context, art *registry.Artifact, buf []byte) error {
	rc, err := art.OpenModel(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return err
	}
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("model layer: %d more bytes, %v; want the verified end", n, err)
	}
	return nil
}
