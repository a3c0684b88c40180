package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"filippo.io/age"
)

// RekeyResult reports a key rotation.
type RekeyResult struct {
	// Recipient is the org's new public key (age1…).
	Recipient string
	// Resumed is true when Rekey finished an interrupted rotation instead of starting one.
	Resumed bool
	// Files is the number of stored files re-encrypted; hard links of one file count once.
	Files int
	// Skipped lists files no key could decrypt whole (ErrCorrupt), left as they were:
	// quarantine those versions and pull them again.
	Skipped []string
}

// Rekey rotates org's key without downtime: readers keep working throughout, writers of
// the org (Put, Deploy, Quarantine, in any process) wait. The steps, each durable before
// the next:
//
//  1. write the key file with a new identity first and the old ones after it: new files
//     are encrypted to the new key, and both decrypt;
//  2. re-encrypt every *.age file under models/<org>/ and backups/<org>/ to the new key
//     (stream, temp file, fsync, rename; hard links in deploy dirs are re-linked);
//  3. rewrite the key file with the new identity alone.
//
// A crash at any point leaves every file readable with the key file on disk. When the key
// file already holds several identities, a rotation was interrupted: Rekey finishes it
// with the first one instead of generating another (Resumed).
func (s *Store) Rekey(ctx context.Context, org string) (RekeyResult, error) {
	return s.rekey(ctx, org, nil)
}

// rekey is Rekey with a hook called after every durable step; when it returns an error,
// rekey returns at once, as if the process died there (tests use it to cut it short).
func (s *Store) rekey(ctx context.Context, org string, stop func(step string) error) (RekeyResult, error) {
	var res RekeyResult
	if !s.Encrypted() {
		return res, errors.New("rekey: the store is not encrypted (no key directory)")
	}
	if stop == nil {
		stop = func(string) error { return nil }
	}
	dir, err := s.OrgDir(org)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("rekey %s: %w", org, err)
	}
	unlock, err := lockOrg(ctx, dir, true)
	if err != nil {
		return res, fmt.Errorf("rekey %s: %w", org, err)
	}
	defer unlock()
	keys, err := s.loadKeys(org)
	if err != nil {
		return res, fmt.Errorf("rekey: %w", err)
	}
	if err := removeKeyTemps(s.keyDir, org); err != nil {
		return res, fmt.Errorf("rekey %s: %w", org, err)
	}
	all := keys.ids
	if len(all) > 1 {
		res.Resumed = true
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return res, fmt.Errorf("rekey %s: %w", org, err)
		}
		all = append([]age.Identity{id}, all...)
		note := fmt.Sprintf("talon: key rotation of org %s in progress; the first key is the new one; `talon store rekey --org %s` finishes it", org, org)
		if err := s.writeKeys(keys.path, note, all); err != nil {
			return res, fmt.Errorf("rekey %s: %w", org, err)
		}
		if err := stop("key-added"); err != nil {
			return res, err
		}
	}
	rcpt, err := recipientOf(all[0])
	if err != nil {
		return res, fmt.Errorf("rekey %s: %w", org, err)
	}
	res.Recipient = fmt.Sprint(rcpt)
	groups, err := s.encryptedFiles(org)
	if err != nil {
		return res, fmt.Errorf("rekey %s: %w", org, err)
	}
	for _, g := range groups {
		done, err := reencrypt(ctx, g, all, rcpt, stop)
		switch {
		case errors.Is(err, ErrCorrupt):
			res.Skipped = append(res.Skipped, err.Error())
		case err != nil:
			return res, fmt.Errorf("rekey %s: %w", org, err)
		case done:
			res.Files++
		}
	}
	if err := stop("before-drop"); err != nil {
		return res, err
	}
	if err := s.writeKeys(keys.path, "talon key of org "+org, all[:1]); err != nil {
		return res, fmt.Errorf("rekey %s: drop the old key: %w", org, err)
	}
	return res, nil
}

func (s *Store) writeKeys(path, note string, ids []age.Identity) error {
	text, err := keyFileText(note, ids)
	if err != nil {
		return err
	}
	return writeKeyFile(path, text, true)
}

// reencrypt re-encrypts one stored file, whose hard links are paths (paths[0] the version
// file when there is one), to rcpt, unless it already is. It reports whether it did.
func reencrypt(ctx context.Context, paths []string, ids []age.Identity, rcpt age.Recipient, stop func(string) error) (bool, error) {
	first := paths[0]
	f, err := os.Open(first)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := age.Decrypt(bufio.NewReader(f), ids[0]); err == nil {
		return false, nil // encrypted to the new key already (a resumed rotation)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	fill := func(w io.Writer) (int64, error) {
		r, err := decryptReader(first, ctxReader{ctx, f}, ids)
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return 0, corrupt(first, "not encrypted to any identity in the key file")
		}
		if err != nil {
			return 0, err
		}
		ew, err := age.Encrypt(w, rcpt)
		if err != nil {
			return 0, err
		}
		n, err := io.CopyBuffer(ew, onlyReader{r}, make([]byte, copyBuf))
		if err != nil {
			return n, readErr(first, err, "")
		}
		return n, ew.Close()
	}
	check := func(int64) error { return stop("writing:" + first) }
	if _, err := writeDurable(ctx, first, fill, check); err != nil {
		return false, err
	}
	if err := stop("replaced:" + first); err != nil {
		return false, err
	}
	for _, p := range paths[1:] {
		tmp := filepath.Join(filepath.Dir(p), ".tmp-link-"+filepath.Base(p))
		os.Remove(tmp)
		if err := os.Link(first, tmp); err != nil {
			return false, err
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return false, err
		}
		if err := syncDir(filepath.Dir(p)); err != nil {
			return false, err
		}
		if err := stop("relinked:" + p); err != nil {
			return false, err
		}
	}
	return true, nil
}

// encryptedFiles lists the *.age files under models/<org>/ and backups/<org>/, grouped
// by inode (a version file and its hard links in deploy dirs), version files first. It
// removes temporary files left by a crash; the caller holds the org's exclusive lock.
func (s *Store) encryptedFiles(org string) ([][]string, error) {
	modelDir, err := s.OrgDir(org)
	if err != nil {
		return nil, err
	}
	backupDir, err := s.BackupDir(org)
	if err != nil {
		return nil, err
	}
	type inode struct{ dev, ino uint64 }
	byInode := map[inode][]string{}
	var order []inode
	for _, root := range []string{modelDir, backupDir} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipDir
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if strings.HasPrefix(d.Name(), ".tmp-") {
				return os.Remove(p)
			}
			if !strings.HasSuffix(d.Name(), ".age") {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return fmt.Errorf("%s: no inode information", p)
			}
			k := inode{uint64(st.Dev), st.Ino}
			if _, seen := byInode[k]; !seen {
				order = append(order, k)
			}
			byInode[k] = append(byInode[k], p)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	groups := make([][]string, 0, len(order))
	for _, k := range order {
		g := byInode[k]
		sort.Slice(g, func(i, j int) bool {
			di, dj := strings.Count(g[i], string(filepath.Separator)), strings.Count(g[j], string(filepath.Separator))
			return di < dj || di == dj && g[i] < g[j]
		})
		groups = append(groups, g)
	}
	return groups, nil
}

// removeKeyTemps removes temporary key files of org left in keyDir by a crash.
func removeKeyTemps(keyDir, org string) error {
	entries, err := os.ReadDir(keyDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".tmp-"+org+KeyExt+"-") || strings.HasPrefix(n, ".tmp-.tmp-"+org+KeyExt+"-") {
			if err := os.Remove(filepath.Join(keyDir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}
