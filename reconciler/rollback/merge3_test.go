package rollback

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMerge3(t *testing.T) {
	base := "a\nb\nc\nd\ne\nf\n"
	for _, tc := range []struct {
		name         string
		ours, theirs string
		want         string // "" with ok false: conflict
	}{
		{"ours only", "a\nB\nc\nd\ne\nf\n", base, "a\nB\nc\nd\ne\nf\n"},
		{"theirs only", base, "a\nb\nc\nd\nE\nf\n", "a\nb\nc\nd\nE\nf\n"},
		{"apart", "A\nb\nc\nd\ne\nf\n", "a\nb\nc\nd\ne\nF\n", "A\nb\nc\nd\ne\nF\n"},
		{"same change", "a\nX\nc\nd\ne\nf\n", "a\nX\nc\nd\ne\nf\n", "a\nX\nc\nd\ne\nf\n"},
		{"insert and delete apart", "a\nb\nnew\nc\nd\ne\nf\n", "a\nb\nc\nd\nf\n", "a\nb\nnew\nc\nd\nf\n"},
		{"append and prepend", "top\n" + base, base + "end\n", "top\n" + base + "end\n"},
		{"same line", "a\nB1\nc\nd\ne\nf\n", "a\nB2\nc\nd\ne\nf\n", ""},
		{"adjacent lines", "a\nB\nc\nd\ne\nf\n", "a\nb\nC\nd\ne\nf\n", ""},
		{"delete against edit", "a\nc\nd\ne\nf\n", "a\nB\nc\nd\ne\nf\n", ""},
		{"no final newline", "a\nb\nc\nd\ne\nf", "A\nb\nc\nd\ne\nf\n", "A\nb\nc\nd\ne\nf"},
		{"both emptied", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := merge3([]byte(base), []byte(tc.ours), []byte(tc.theirs))
			if err != nil {
				t.Fatal(err)
			}
			wantOK := tc.want != "" || tc.name == "both emptied"
			if ok != wantOK || (ok && string(got) != tc.want) {
				t.Errorf("merge3 = %q, %v; want %q, %v", got, ok, tc.want, wantOK)
			}
		})
	}
}

// TestMatchLinesIsLCS: on random texts over a small alphabet, matchLines pairs equal lines,
// in order, and as many as the longest common subsequence (computed by dynamic programming).
func TestMatchLinesIsLCS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() [][]byte {
		n := rng.IntN(30)
		lines := make([][]byte, n)
		for i := range lines {
			lines[i] = []byte{byte('a' + rng.IntN(4)), '\n'}
		}
		return lines
	}
	for iter := range 2000 {
		a, b := gen(), gen()
		m, err := matchLines(a, b)
		if err != nil {
			t.Fatal(err)
		}
		pairs, last := 0, -1
		for i, j := range m {
			if j < 0 {
				continue
			}
			if j <= last || !bytes.Equal(a[i], b[j]) {
				t.Fatalf("iteration %d: bad match %d→%d (last %d) for %q / %q", iter, i, j, last, a, b)
			}
			last = j
			pairs++
		}
		if want := lcs(a, b); pairs != want {
			t.Fatalf("iteration %d: %d pairs; the LCS has %d", iter, pairs, want)
		}
	}
}

func lcs(a, b [][]byte) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if bytes.Equal(a[i], b[j]) {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestMatchLinesTooDifferent(t *testing.T) {
	a := splitLines([]byte(strings.Repeat("x\n", maxEdits)))
	b := splitLines([]byte(strings.Repeat("y\n", maxEdits)))
	if _, err := matchLines(a, b); err != errTooDifferent {
		t.Errorf("matchLines of %d wholly different lines = %v; want errTooDifferent", maxEdits, err)
	}
	if _, ok, err := merge3([]byte("k\n"), bytes.Join(a, nil), []byte("k\nz\n")); ok || err != errTooDifferent {
		t.Errorf("merge3 of too different texts = ok %v, %v", ok, err)
	}
}

func TestParseModel(t *testing.T) {
	base := parseModel([]byte(org("acme", "v1", "")), true)
	for _, tc := range []struct {
		name string
		text string
		same bool
	}{
		{"comment and quotes", "# other comment\norg: acme\nmodel:\n  version: \"v1\"\n  repository: 'registry.example.com/acme/pdm'  # here\n", true},
		{"other section", org("acme", "v1", retention), true},
		{"version", org("acme", "v2", ""), false},
		{"repository", strings.Replace(org("acme", "v1", ""), "acme/pdm", "acme/pdm2", 1), false},
		{"semver", org("acme", "v1", "") + "  semver: '>=1'\n", false},
		{"broken yaml", "model: [\n", false},
		{"no model", "org: acme\n", false},
	} {
		got := parseModel([]byte(tc.text), true)
		if (got == base) != tc.same {
			t.Errorf("%s: same model = %v; want %v (%s vs %s)", tc.name, got == base, tc.same, got, base)
		}
	}
	if parseModel(nil, false) == parseModel([]byte(""), true) {
		t.Error("an absent file equals an empty one")
	}
	if !base.matches("v1") || base.matches("v2") {
		t.Error("matches")
	}
}
