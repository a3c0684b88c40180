package rollback

import (
	"bytes"
	"errors"
)

// errTooDifferent is returned by matchLines when two texts differ in more lines than
// maxEdits; a merge of them is reported as a conflict.
var errTooDifferent = errors.New("too many differences to merge")

// maxEdits bounds the edit distance matchLines explores (its memory grows with its square).
const maxEdits = 2000

// merge3 merges the changes from base to ours and from base to theirs, line by line, the
// way diff3 and git do: a region changed on one side only takes that side, a region changed
// identically on both takes it once, and regions changed differently on both sides — or
// changed on both sides next to each other — are a conflict (ok false).
func merge3(base, ours, theirs []byte) (merged []byte, ok bool, err error) {
	b, o, t := splitLines(base), splitLines(ours), splitLines(theirs)
	mo, err := matchLines(b, o)
	if err != nil {
		return nil, false, err
	}
	mt, err := matchLines(b, t)
	if err != nil {
		return nil, false, err
	}
	var out [][]byte
	i, j, k := 0, 0, 0 // positions in base, ours, theirs
	for {
		// Lines that match in all three, in lockstep, are stable: copy them.
		n := 0
		for i+n < len(b) && j+n < len(o) && k+n < len(t) && mo[i+n] == j+n && mt[i+n] == k+n {
			n++
		}
		if n > 0 {
			out = append(out, b[i:i+n]...)
			i, j, k = i+n, j+n, k+n
			continue
		}
		if i == len(b) && j == len(o) && k == len(t) {
			return bytes.Join(out, nil), true, nil
		}
		// An unstable region runs to the next base line matched on both sides.
		ni, nj, nk := len(b), len(o), len(t)
		for x := i; x < len(b); x++ {
			if mo[x] >= 0 && mt[x] >= 0 {
				ni, nj, nk = x, mo[x], mt[x]
				break
			}
		}
		cb, co, ct := b[i:ni], o[j:nj], t[k:nk]
		switch {
		case equalLines(co, cb):
			out = append(out, ct...)
		case equalLines(ct, cb), equalLines(co, ct):
			out = append(out, co...)
		default:
			return nil, false, nil
		}
		i, j, k = ni, nj, nk
	}
}

// splitLines splits s after each "\n"; a last line without one is kept as it is.
func splitLines(s []byte) [][]byte {
	var lines [][]byte
	for len(s) > 0 {
		n := bytes.IndexByte(s, '\n') + 1
		if n == 0 {
			n = len(s)
		}
		lines = append(lines, s[:n])
		s = s[n:]
	}
	return lines
}

func equalLines(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// matchLines returns, for each line of a, the index of the line of b it is matched with in
// a shortest edit script (Myers' algorithm), or -1.
func matchLines(a, b [][]byte) ([]int, error) {
	m := make([]int, len(a))
	for i := range m {
		m[i] = -1
	}
	// Common prefix and suffix need no search.
	pre := 0
	for pre < len(a) && pre < len(b) && bytes.Equal(a[pre], b[pre]) {
		m[pre] = pre
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && bytes.Equal(a[len(a)-1-suf], b[len(b)-1-suf]) {
		m[len(a)-1-suf] = len(b) - 1 - suf
		suf++
	}
	aa, bb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	pairs, err := myers(aa, bb)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		m[pre+p[0]] = pre + p[1]
	}
	return m, nil
}

// myers returns the matched line pairs, in order, of a shortest edit script from a to b,
// or errTooDifferent when it needs more than maxEdits insertions and deletions.
func myers(a, b [][]byte) ([][2]int, error) {
	n, m := len(a), len(b)
	maxD := min(n+m, maxEdits)
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int // trace[d][k+d] is v[k] after step d, for k in [-d, d]
	for d := 0; d <= maxD; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion from b
			} else {
				x = v[off+k-1] + 1 // right: a deletion from a
			}
			y := x - k
			for x < n && y < m && bytes.Equal(a[x], b[y]) {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, n, m), nil
			}
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
	}
	return nil, errTooDifferent
}

// backtrack walks the path ending at (n, m) back through trace and returns its diagonal
// moves, the matched pairs, in order. The path's last step is len(trace).
func backtrack(trace [][]int, n, m int) [][2]int {
	var pairs [][2]int
	x, y := n, m
	for d := len(trace); d > 0; d-- {
		prev := trace[d-1]
		at := func(k int) int { return prev[k+d-1] }
		k := x - y
		var pk, sx int // the previous diagonal, and where this step's snake starts
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
			sx = at(pk)
		} else {
			pk = k - 1
			sx = at(pk) + 1
		}
		for x > sx {
			pairs = append(pairs, [2]int{x - 1, y - 1})
			x, y = x-1, y-1
		}
		x = at(pk)
		y = x - pk
	}
	for x > 0 { // the snake of step 0 runs along the main diagonal from (0, 0)
		pairs = append(pairs, [2]int{x - 1, y - 1})
		x, y = x-1, y-1
	}
	for i, j := 0, len(pairs)-1; i < j; i, j = i+1, j-1 {
		pairs[i], pairs[j] = pairs[j], pairs[i]
	}
	return pairs
}
