package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push builds in as a ModelPack artifact (see Build), uploads its blobs and manifest to ref,
// which must be a tag ("host/repo:v1"), and returns the pushed digest as "host/repo@sha256:…".
// Empty Name and Version default to the repository path and the tag.
func (c *Client) Push(ctx context.Context, ref string, in PushInput) (name.Digest, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return name.Digest{}, err
	}
	tag, ok := r.(name.Tag)
	if !ok {
		return name.Digest{}, fmt.Errorf("push %s: want a tag reference (host/repo:tag), not a digest", ref)
	}
	if in.Name == "" {
		in.Name = tag.RepositoryStr()
	}
	if in.Version == "" {
		in.Version = tag.TagStr()
	}
	img, err := Build(in)
	if err != nil {
		return name.Digest{}, fmt.Errorf("push %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("push %s: %w", tag, err)
	}
	opts := c.remoteOptions(ctx)
	if in.Progress != nil {
		updates, stop, done := make(chan v1.Update), make(chan struct{}), make(chan struct{})
		go relayProgress(updates, stop, done, in.Progress)
		defer func() { close(stop); <-done }()
		opts = append(opts, remote.WithProgress(updates))
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("push %s: %w", tag, err)
	}
	return tag.Context().Digest(d.String()), nil
}

// relayProgress calls fn for each update until go-containerregistry closes updates or the
// push returns (stop). The channel is unbuffered, so every update sent before remote.Write
// returned has been delivered by then.
func relayProgress(updates <-chan v1.Update, stop, done chan struct{}, fn func(written, total int64)) {
	defer close(done)
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				return
			}
			if u.Error == nil {
				fn(u.Complete, u.Total)
			}
		case <-stop:
			return
		}
	}
}
