package gitops

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packHardFactor bounds the packs a run of fetches that all bring commits may leave: past
// packHardFactor times the pack limit, Fetch repacks right after fetching.
const packHardFactor = 4

// staleTemp is the age after which a temporary pack file is a leftover of an interrupted
// write rather than one in progress (by another program, such as git).
const staleTemp = time.Hour

// hook calls the mirror's repack hook, when a test set one (options.repackHook), at each
// step of a repack: "encoding" on every write of the new pack, "written" once it is in
// place, "deleting" after each old pack file is removed and before its index is.
func (m *Mirror) hook(step string) {
	if m.repackHook != nil {
		m.repackHook(step)
	}
}

// Maintain keeps the mirror cheap to read over a long life. It removes what interrupted
// writes left in objects/pack (temporary packs older than an hour, indexes without their
// pack), and when the mirror holds more packs than its limit (WithPackLimit) it merges
// them into one new pack and deletes them; a few large packs that each hold more objects
// than all smaller ones together are left alone, so the whole history is not rewritten
// each time, and at most half the limit remains. Fetch does this itself when it is cheap
// to (see WithPackLimit); call Maintain to do it at a time of your choosing. Reads wait
// while it runs. ctx is checked before the new pack is written; once it is, the merged
// packs are deleted.
//
// A kill at any point leaves a mirror that reads every object it held: the new pack and
// its index are synced to disk and checked to hold every object of the merged packs
// before any of them is deleted, and a pack file is deleted before its index. No object
// is dropped, reachable or not (a commit from before a force push stays readable); loose
// objects stay as they are.
func (m *Mirror) Maintain(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	packs, err := m.listPacks()
	if err != nil {
		return fmt.Errorf("maintain mirror %s: %w", m.dir, err)
	}
	if len(packs) <= m.packLimit {
		return nil
	}
	if err := m.repack(ctx, packs); err != nil {
		return fmt.Errorf("maintain mirror %s: repack %d packs: %w", m.dir, len(packs), err)
	}
	return nil
}

// afterFetch passes a fetch's outcome through. After a successful fetch, with m.mu held, it
// repacks when the mirror holds more packs than its limit and either the fetch brought
// nothing new or there are packHardFactor times too many. A failure goes to
// res.MaintainErr: the fetch itself succeeded. After a failure it waits for another pack
// before trying again.
func (m *Mirror) afterFetch(ctx context.Context, res FetchResult, err error) (FetchResult, error) {
	if err == nil {
		m.autoMaintain(ctx, &res)
	}
	return res, err
}

// autoMaintain is afterFetch's repack.
func (m *Mirror) autoMaintain(ctx context.Context, res *FetchResult) {
	packs, err := m.listPacks()
	n := len(packs)
	switch {
	case err != nil:
		res.MaintainErr = fmt.Errorf("maintain mirror %s: %w", m.dir, err)
		return
	case n <= m.packLimit, n == m.failedAt, res.Changed && n <= packHardFactor*m.packLimit:
		return
	}
	if err := m.repack(ctx, packs); err != nil {
		m.failedAt = n
		res.MaintainErr = fmt.Errorf("maintain mirror %s: repack %d packs: %w", m.dir, n, err)
		return
	}
	m.failedAt = 0
}

// listPacks returns the packs in objects/pack that have an index, and removes the leftovers
// of interrupted writes: temporary packs older than staleTemp and indexes without a pack.
// go-git reuses an index it finds under the name of a pack it writes, so one that a kill
// left half written must go before a fetch or a repack writes that pack again. The caller
// holds m.mu or has not shared m yet: nothing of the mirror's is writing.
func (m *Mirror) listPacks() ([]plumbing.Hash, error) {
	entries, err := os.ReadDir(m.packDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	var packs []plumbing.Hash
	for _, e := range entries {
		name := e.Name()
		base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		switch {
		case strings.HasPrefix(name, "tmp_pack_"):
			if err := removeStale(filepath.Join(m.packDir, name)); err != nil {
				return nil, err
			}
		case !strings.HasPrefix(name, "pack-"):
		case ext == ".idx" && !names[base+".pack"]:
			if err := os.Remove(filepath.Join(m.packDir, name)); err != nil && !os.IsNotExist(err) {
				return nil, fmt.Errorf("remove index without pack: %w", err)
			}
		case ext == ".pack" && names[base+".idx"]:
			if h, ok := packHash(base); ok {
				packs = append(packs, h)
			}
		}
	}
	return packs, nil
}

// packHash parses the hash out of "pack-<hash>".
func packHash(base string) (plumbing.Hash, bool) {
	hex := strings.TrimPrefix(base, "pack-")
	h := plumbing.NewHash(hex)
	return h, len(hex) == 2*len(h) && h.String() == hex
}

// removeStale removes the file at p when it is older than staleTemp.
func removeStale(p string) error {
	fi, err := os.Stat(p)
	if err != nil || time.Since(fi.ModTime()) < staleTemp {
		return nil // gone already, or perhaps still being written
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove stale temporary pack: %w", err)
	}
	return nil
}

func (m *Mirror) packPath(h plumbing.Hash, ext string) string {
	return filepath.Join(m.packDir, "pack-"+h.String()+"."+ext)
}

// packIndex is a pack and its decoded index.
type packIndex struct {
	hash  plumbing.Hash
	idx   *idxfile.MemoryIndex
	count int64
}

// repack merges packs into one new pack (all of them, or the smaller ones: see mergeSet),
// syncs it, checks that its index holds every object of the merged packs, then deletes
// them, each pack file before its index. m.mu is held.
func (m *Mirror) repack(ctx context.Context, packs []plumbing.Hash) error {
	all := make([]packIndex, 0, len(packs))
	for _, h := range packs {
		idx, err := m.readIndex(h)
		if err != nil {
			return err
		}
		n, err := idx.Count()
		if err != nil {
			return fmt.Errorf("pack index %s: %w", h, err)
		}
		all = append(all, packIndex{hash: h, idx: idx, count: n})
	}
	merge := mergeSet(all, m.packLimit)
	objs, err := objectsOf(merge)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := m.writePack(objs)
	if err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	m.hook("written")
	for _, p := range []string{m.packPath(h, "pack"), m.packPath(h, "idx"), m.packDir} {
		if err := syncPath(p); err != nil {
			return err
		}
	}
	if err := m.checkIndex(h, objs); err != nil {
		return err
	}
	// go-git still lists the old packs and holds them open; reload from disk afterwards.
	defer m.resetStorage()
	for _, old := range merge {
		if old.hash == h {
			continue // the same objects, written the same way
		}
		if err := os.Remove(m.packPath(old.hash, "pack")); err != nil {
			return fmt.Errorf("delete old pack: %w", err)
		}
		m.hook("deleting")
		if err := os.Remove(m.packPath(old.hash, "idx")); err != nil {
			return fmt.Errorf("delete old pack index: %w", err)
		}
	}
	return nil
}

// mergeSet returns the packs a repack merges: all but the largest ones that each hold at
// least as many objects as all smaller packs together, so that a repack mostly rewrites
// recent objects, not the whole history every time. It keeps at most limit/2-1 packs,
// so that a repack leaves at most half the limit.
func mergeSet(packs []packIndex, limit int) []packIndex {
	slices.SortFunc(packs, func(a, b packIndex) int {
		return cmp.Or(cmp.Compare(b.count, a.count), bytes.Compare(a.hash[:], b.hash[:]))
	})
	var rest int64
	for _, p := range packs {
		rest += p.count
	}
	k := 0
	for ; k < len(packs) && k < limit/2-1; k++ {
		rest -= packs[k].count
		if packs[k].count < rest {
			break
		}
	}
	return packs[k:]
}

// readIndex decodes the index of pack h.
func (m *Mirror) readIndex(h plumbing.Hash) (*idxfile.MemoryIndex, error) {
	f, err := os.Open(m.packPath(h, "idx"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(bufio.NewReader(f)).Decode(idx); err != nil {
		return nil, fmt.Errorf("pack index %s: %w", h, err)
	}
	return idx, nil
}

// objectsOf returns the hashes of the objects in packs, sorted, each once.
func objectsOf(packs []packIndex) ([]plumbing.Hash, error) {
	var objs []plumbing.Hash
	for _, p := range packs {
		it, err := p.idx.Entries()
		if err != nil {
			return nil, fmt.Errorf("pack index %s: %w", p.hash, err)
		}
		for {
			e, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				it.Close()
				return nil, fmt.Errorf("pack index %s: %w", p.hash, err)
			}
			objs = append(objs, e.Hash)
		}
		it.Close()
	}
	slices.SortFunc(objs, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(objs), nil
}

// writePack encodes objs into a new pack (deltas found with the configured window), which
// go-git's pack writer puts in place index first.
func (m *Mirror) writePack(objs []plumbing.Hash) (h plumbing.Hash, err error) {
	cfg, err := m.repo.Config()
	if err != nil {
		return h, err
	}
	w, err := m.store.PackfileWriter()
	if err != nil {
		return h, err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	return packfile.NewEncoder(hookedWriter{w, m}, m.store, false).Encode(objs, cfg.Pack.Window)
}

type hookedWriter struct {
	w io.Writer
	m *Mirror
}

func (h hookedWriter) Write(p []byte) (int, error) {
	h.m.hook("encoding")
	return h.w.Write(p)
}

// checkIndex verifies that the index of pack h lists every one of objs.
func (m *Mirror) checkIndex(h plumbing.Hash, objs []plumbing.Hash) error {
	idx, err := m.readIndex(h)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if ok, err := idx.Contains(o); err != nil || !ok {
			return fmt.Errorf("new pack %s lacks object %s (%v); old packs kept", h, o, err)
		}
	}
	return nil
}

// resetStorage makes go-git forget its pack list and close its packs; it reads them again
// from disk when next needed.
func (m *Mirror) resetStorage() {
	_ = m.store.Close() // read-only descriptors: there is nothing to lose
	m.store.Reindex()
}

// syncPath flushes the file or directory at p to disk.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(p), err)
	}
	return nil
}
