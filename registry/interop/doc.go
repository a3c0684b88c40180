// Package interop holds Talon's interoperability tests against the real third-party tools:
// Debian's docker-registry (distribution 2.8) as the registry, and the cosign v2.6.5,
// crane, oras and skopeo CLIs as the other clients. The tests are behind the build tag
// "interop" so that `go test ./...` needs none of the tools; `make interop` installs them
// (cached under .cache/tools) and runs `go test -tags interop ./registry/interop`.
package interop
