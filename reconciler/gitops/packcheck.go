package gitops

import (
	"bytes"
	"crypto/sha1" // git's pack and index checksums are SHA-1 by format
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/go-git/go-git/v5/plumbing"
)

// A mirror's packs are written by go-git, which does not fsync them: after a power loss
// an index can be empty or a pack short while the rename that published them survived.
// go-git then fails on every read that touches that index, so the mirror would never
// fetch again. Open checks every pack and index it keeps (both checksums, and that they
// belong together) and removes a damaged pair; the mirror is only a cache of the remote,
// so the next fetch brings those objects back.

const (
	idxHeaderLen  = 8          // magic and version
	idxFanoutLen  = 256 * 4    // cumulative object counts by first byte
	idxEntryLen   = 20 + 4 + 4 // object name, CRC-32 and offset, in three tables
	packHeaderLen = 12         // "PACK", version, object count
	checksumLen   = sha1.Size
)

var idxMagic = []byte{0xff, 't', 'O', 'c'}

// checkPackPair checks the index at idxPath and the pack at packPath: the index is a
// version-2 index whose own checksum is right, the pack's header counts the objects the
// index lists, and the pack's checksum is right and is the one the index records.
func checkPackPair(packPath, idxPath string) error {
	idx, err := os.ReadFile(idxPath)
	if err != nil {
		return err
	}
	minLen := idxHeaderLen + idxFanoutLen + 2*checksumLen
	if len(idx) < minLen || !bytes.Equal(idx[:4], idxMagic) || binary.BigEndian.Uint32(idx[4:8]) != 2 {
		return fmt.Errorf("index %s: not a version-2 pack index (%d bytes)", idxPath, len(idx))
	}
	if sum := sha1.Sum(idx[:len(idx)-checksumLen]); !bytes.Equal(sum[:], idx[len(idx)-checksumLen:]) {
		return fmt.Errorf("index %s: checksum mismatch", idxPath)
	}
	objects := binary.BigEndian.Uint32(idx[idxHeaderLen+idxFanoutLen-4:])
	if int64(len(idx)) < int64(minLen)+int64(objects)*idxEntryLen {
		return fmt.Errorf("index %s: too short for its %d objects", idxPath, objects)
	}
	wantPack := idx[len(idx)-2*checksumLen : len(idx)-checksumLen]

	f, err := os.Open(packPath)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < packHeaderLen+checksumLen {
		return fmt.Errorf("pack %s: %d bytes, shorter than a pack", packPath, fi.Size())
	}
	h := sha1.New()
	var head [packHeaderLen]byte
	if _, err := io.ReadFull(io.TeeReader(f, h), head[:]); err != nil {
		return fmt.Errorf("pack %s: header: %w", packPath, err)
	}
	if string(head[:4]) != "PACK" || binary.BigEndian.Uint32(head[8:]) != objects {
		return fmt.Errorf("pack %s: header does not match its index (%d objects)", packPath, objects)
	}
	if _, err := io.CopyN(h, f, fi.Size()-packHeaderLen-checksumLen); err != nil {
		return fmt.Errorf("pack %s: %w", packPath, err)
	}
	var trail [checksumLen]byte
	if _, err := io.ReadFull(f, trail[:]); err != nil {
		return fmt.Errorf("pack %s: checksum: %w", packPath, err)
	}
	if !bytes.Equal(h.Sum(nil), trail[:]) || !bytes.Equal(trail[:], wantPack) {
		return fmt.Errorf("pack %s: checksum does not match its content or its index", packPath)
	}
	return nil
}

// dropDamagedPacks checks each of packs (see checkPackPair) and removes every damaged
// one with its index: the pack first, since a lone index is removed by listPacks and a
// lone pack would fail go-git. When it removed any, it also forgets the last fetched
// commit, so that the next fetch asks for the branch again rather than believing the
// mirror holds what it lost. Dropped reports what it found.
func (m *Mirror) dropDamagedPacks(packs []plumbing.Hash) error {
	for _, h := range packs {
		err := checkPackPair(m.packPath(h, "pack"), m.packPath(h, "idx"))
		if err == nil {
			continue
		}
		for _, ext := range []string{"pack", "idx"} {
			if rerr := os.Remove(m.packPath(h, ext)); rerr != nil && !os.IsNotExist(rerr) {
				return fmt.Errorf("remove damaged pack: %w (it was: %v)", rerr, err)
			}
		}
		m.dropped = append(m.dropped, err.Error())
	}
	if len(m.dropped) == 0 {
		return nil
	}
	if err := m.repo.Storer.RemoveReference(m.trackingRef()); err != nil {
		return fmt.Errorf("forget the last fetched commit after removing damaged packs: %w", err)
	}
	return syncPath(m.packDir)
}

// Dropped returns why Open removed damaged packs from the mirror, one line each (none in
// normal use). Their objects are fetched again by the next Fetch.
func (m *Mirror) Dropped() []string { return m.dropped }
