package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/eaglenotifier/talon/policy"
	"github.com/eaglenotifier/talon/reconciler/store"
	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/cosign"
)

// resolve turns the org's desired model into one digest, once: a tag is resolved in the
// registry, a semver range picks the highest matching tag first, a digest is taken as
// written. It also fixes the version key the store uses (the tag, or "sha256-<hex>" for a
// digest pin). When the registry cannot be reached and the store holds this tag from the
// same repository, its recorded digest is used, so a rollback works with the registry down.
func (r *Reconciler) resolve(ctx context.Context, run *orgRun) error {
	o := run.org
	var d name.Digest
	var err error
	switch o.Model.Kind() {
	case policy.ByDigest:
		run.version = strings.Replace(o.Model.Digest, ":", "-", 1)
		if d, err = name.NewDigest(o.Model.Reference(), name.Insecure); err != nil {
			return stalled("resolve", "InvalidReference", fmt.Errorf("%s: %w", o.Model.Reference(), err))
		}
	case policy.BySemver:
		tags, err := r.reg.ListTags(ctx, o.Model.Repository)
		if err != nil {
			return transient("resolve", "ResolveFailed", fmt.Errorf("list tags of %s: %w", o.Model.Repository, err))
		}
		tag, err := policy.ResolveSemver(o.Model.Semver, tags)
		if err != nil {
			return transient("resolve", "NoMatchingTag", fmt.Errorf("%s: %w", o.Model, err))
		}
		run.version = tag
		if d, err = r.reg.Resolve(ctx, o.Model.WithTag(tag).Reference()); err != nil {
			return transient("resolve", "ResolveFailed", fmt.Errorf("resolve %s: %w", o.Model.WithTag(tag).Reference(), err))
		}
	default:
		run.version = o.Model.Version
		if d, err = r.resolveTag(ctx, run); err != nil {
			return err
		}
	}
	run.digest = d
	var quarantined, lifted bool
	r.setState(o.Name, func(s *orgState) {
		s.desiredDigest = d.DigestStr()
		if s.quarantined != "" && s.quarantined != d.DigestStr() {
			s.quarantined, lifted = "", true // the desired state names another digest: lift the quarantine
		}
		quarantined = s.quarantined == d.DigestStr()
	})
	if lifted {
		if err := r.store.Unrefuse(o.Name); err != nil {
			run.log.Warn("quarantine lifted, but not on disk", "err", err)
		}
	}
	if quarantined {
		return stalled("resolve", "Quarantined", fmt.Errorf("%s was rolled back as degraded and is quarantined; desire another version or digest", d))
	}
	if info, _, ok := r.cache.Get(o.Name); ok && info.Digest == d.DigestStr() && info.Version == run.version {
		run.done = true
	}
	return nil
}

func (r *Reconciler) resolveTag(ctx context.Context, run *orgRun) (name.Digest, error) {
	o := run.org
	ref := o.Model.Reference()
	d, err := r.reg.Resolve(ctx, ref)
	if err == nil {
		return d, nil
	}
	rec, lerr := r.store.Lookup(o.Name, run.version)
	if errors.Is(lerr, store.ErrNotFound) && !errors.Is(err, registry.ErrNotFound) {
		if rerr := r.store.RestoreBackup(ctx, o.Name, run.version); rerr == nil {
			rec, lerr = r.store.Lookup(o.Name, run.version)
		}
	}
	if errors.Is(err, registry.ErrNotFound) || lerr != nil || rec.Repository != o.Model.Repository {
		return name.Digest{}, transient("resolve", "ResolveFailed", err)
	}
	d, derr := name.NewDigest(o.Model.Repository+"@"+rec.Digest, name.Insecure)
	if derr != nil {
		return name.Digest{}, stalled("resolve", "StoreCorrupt", fmt.Errorf("stored digest of %s: %w", ref, derr))
	}
	run.offline, run.storedSigner = true, rec.Signer
	run.log.Warn("registry unreachable; using the digest stored for this version", "digest", rec.Digest, "err", err)
	return d, nil
}

// verify checks the cosign signatures of the resolved digest against the org's trusted
// keys, and only those: an artifact signed by another org's key is refused. It fails
// closed: no keys, no signature, a wrong key, a payload for another digest or repository
// and a malformed signature manifest are each refused with their own reason. An org that
// opts out with trust.allowUnsigned is deployed unverified and flagged on every reconcile.
func (r *Reconciler) verify(ctx context.Context, run *orgRun) error {
	o := run.org
	if o.Trust.AllowUnsigned {
		run.log.Warn("SIGNATURE VERIFICATION DISABLED for this org (trust.allowUnsigned: true)", "digest", run.digest.DigestStr())
		run.signer = "unverified (trust.allowUnsigned)"
		return nil
	}
	var keys []*cosign.PublicKey
	for _, p := range o.Trust.Keys {
		k, err := cosign.ParsePublicKey(p, run.cfg.Keys[p])
		if err != nil {
			return stalled("verify", "InvalidTrustKey", fmt.Errorf("trust key %s: %w", p, err))
		}
		keys = append(keys, k)
	}
	v, err := cosign.NewKeyVerifier(keys...)
	if err != nil {
		return stalled("verify", "NoTrustedKeys", fmt.Errorf("%s has no trusted keys (trust.keys), refusing %s: %w", o.Name, run.digest, err))
	}
	if run.offline {
		for _, k := range keys {
			if k.Fingerprint == run.storedSigner {
				run.signer = run.storedSigner
				return nil
			}
		}
		return stalled("verify", "UntrustedSigner", fmt.Errorf("registry unreachable and the stored copy of %s was signed by %q, which %s no longer trusts", run.digest, run.storedSigner, o.Name))
	}
	set, err := r.sigs.Fetch(ctx, run.digest)
	if err == nil {
		var res *cosign.Result
		if res, err = cosign.Verify(set, run.digest, v, cosign.Options{}); err == nil {
			for _, k := range keys {
				if k.String() == res.Signer {
					run.signer = k.Fingerprint
				}
			}
			run.log.Debug("signature verified", "digest", run.digest.DigestStr(), "signer", res.Signer)
			return nil
		}
	}
	return verifyError(fmt.Errorf("verify signature of %s: %w", run.digest, err))
}

// verifyError classifies a verification failure. A missing signature is retried with
// backoff (CI may sign just after it pushes); every other refusal needs a person.
func verifyError(err error) error {
	switch {
	case errors.Is(err, cosign.ErrUnsigned):
		return transient("verify", "Unsigned", err)
	case errors.Is(err, cosign.ErrUntrusted):
		return stalled("verify", "UntrustedSigner", err)
	case errors.Is(err, cosign.ErrPayloadDigest):
		return stalled("verify", "SignatureForOtherDigest", err)
	case errors.Is(err, cosign.ErrReferenceMismatch):
		return stalled("verify", "SignatureForOtherRepository", err)
	case errors.Is(err, cosign.ErrMalformed):
		return stalled("verify", "MalformedSignature", err)
	case errors.Is(err, registry.ErrDigestMismatch), errors.Is(err, registry.ErrSizeMismatch):
		return stalled("verify", "RegistryTampered", err)
	}
	return transient("verify", "VerifyFailed", err)
}
