package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/inference"
	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/store"
)

// reconcileOrg brings one org to its desired model, in small steps that stop at the first
// error: resolve the tag to a digest once, take the bytes from the store or pull that
// digest, load and warm up the model, check it keeps the serving signature, publish the
// deployed symlink, then hot-swap it into the serving cache. Until the swap the org keeps
// serving its last good model.
func (r *Reconciler) reconcileOrg(ctx context.Context, o *policy.Org, commit string) (err error) {
	ref := o.Model.Reference()
	start := time.Now()
	log := r.log.With("org", o.Name, "reference", ref, "commit", shortCommit(commit))
	var digest string
	defer func() {
		if err != nil {
			log.Error("reconcile failed; keeping the last good model", "digest", digest, "err", err)
		}
	}()

	d, err := r.reg.Resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", ref, err)
	}
	digest = d.DigestStr()
	if info, _, ok := r.cache.Get(o.Name); ok && info.Digest == digest && info.Version == o.Model.Version {
		log.Debug("already serving the desired digest", "digest", digest)
		return nil
	}

	b, rec, fromStore, err := r.obtain(ctx, o, d, commit)
	if err != nil {
		return err
	}
	info := inference.ModelInfo{Org: o.Name, Version: o.Model.Version, Digest: digest, ConfigCommit: commit}
	m, err := inference.LoadModel(ctx, b, info, r.opts.Load)
	if err != nil {
		return fmt.Errorf("load %s@%s into ONNX Runtime: %w", ref, digest, err)
	}
	if _, sig, ok := r.cache.Get(o.Name); ok {
		if err := sig.Compare(m.Signature()); err != nil {
			m.Close()
			return fmt.Errorf("%s@%s changes the serving model's inputs/outputs: %w", ref, digest, err)
		}
	}
	if err := r.store.Deploy(ctx, o.Name, rec.Version, commit); err != nil {
		m.Close()
		return fmt.Errorf("deploy %s@%s: %w", ref, digest, err)
	}
	r.cache.Swap(o.Name, m)
	log.Info("deployed", "digest", digest, "version", o.Model.Version, "from_store", fromStore,
		"size", rec.Size, "duration", time.Since(start).String())
	return nil
}

// obtain returns the model bytes of digest for o: from the store when the same version
// with the same digest is there (checked against its recorded sha256), otherwise pulled
// from the registry by digest, verified while streaming into the store.
func (r *Reconciler) obtain(ctx context.Context, o *policy.Org, d name.Digest, commit string) ([]byte, store.Record, bool, error) {
	digest := d.DigestStr()
	if rec, err := r.store.Lookup(o.Name, o.Model.Version); err == nil && rec.Digest == digest {
		b, rec, err := r.store.ReadModel(o.Name, o.Model.Version)
		if err == nil {
			return b, rec, true, nil
		}
		r.log.Warn("stored copy unusable; pulling again", "org", o.Name, "digest", digest, "err", err)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, store.Record{}, false, err
	}
	ref := o.Model.Reference()
	art, err := r.reg.Fetch(ctx, d)
	if err != nil {
		return nil, store.Record{}, false, fmt.Errorf("fetch manifest %s@%s: %w", ref, digest, err)
	}
	meta, err := art.ReadMetadata(ctx)
	if err != nil {
		return nil, store.Record{}, false, fmt.Errorf("read metadata of %s@%s: %w", ref, digest, err)
	}
	rc, err := art.OpenModel(ctx)
	if err != nil {
		return nil, store.Record{}, false, fmt.Errorf("pull model layer of %s@%s: %w", ref, digest, err)
	}
	defer rc.Close()
	rec := store.Record{
		Org: o.Name, Version: o.Model.Version, Repository: o.Model.Repository, Digest: digest,
		ModelDigest: art.Model.Digest.String(), Format: string(art.Format), ConfigCommit: commit, Metadata: meta,
	}
	if rec, err = r.store.Put(ctx, rec, rc); err != nil {
		return nil, store.Record{}, false, fmt.Errorf("pull %s@%s: %w", ref, digest, err)
	}
	b, rec, err := r.store.ReadModel(o.Name, o.Model.Version)
	if err != nil {
		return nil, store.Record{}, false, err
	}
	return b, rec, false, nil
}

// Restore loads every org's deployed model from the store into the serving cache, so a
// restarted Talon serves its last good models before it reaches Git or the registry.
func (r *Reconciler) Restore(ctx context.Context) error {
	orgs, err := r.store.Orgs()
	if err != nil {
		return err
	}
	for _, org := range orgs {
		b, rec, dep, err := r.store.Deployed(org)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			r.log.Error("cannot restore deployed model", "org", org, "err", err)
			continue
		}
		info := inference.ModelInfo{Org: org, Version: rec.Version, Digest: rec.Digest, ConfigCommit: dep.ConfigCommit}
		m, err := inference.LoadModel(ctx, b, info, r.opts.Load)
		if err != nil {
			r.log.Error("cannot load deployed model", "org", org, "version", rec.Version, "digest", rec.Digest, "err", err)
			continue
		}
		r.cache.Swap(org, m)
		r.setState(org, func(s *orgState) {
			s.desired = policy.ModelRef{Repository: rec.Repository, Version: rec.Version}
			s.commit, s.applied = dep.ConfigCommit, true
		})
		r.log.Info("restored deployed model", "org", org, "version", rec.Version, "digest", rec.Digest)
	}
	return nil
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
