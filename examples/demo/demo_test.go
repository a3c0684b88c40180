package demo

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
)

// TestDemoStory runs `talon demo --story-only` in-process and checks the story it tells
// matches what ONNX Runtime computes for each version.
func TestDemoStory(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), Options{
		Listen: "127.0.0.1:0", Dir: t.TempDir(), Out: &out, StoryOnly: true, PollInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	v1 := fmt.Sprintf("failure probability %.3f", pdm.Predict(pdm.V1(), machine))
	v2 := fmt.Sprintf("failure probability %.3f", pdm.Predict(pdm.V2(), machine))
	if v1 == v2 {
		t.Fatalf("the story's machine does not tell v1 from v2: %s", v1)
	}
	s := out.String()
	for _, want := range []string{
		"① v1 is serving", "acme v1", "globex v1", v1,
		"② git commit", "after the push (webhook)", "acme v2", v2,
		"③ git revert", "back on v1", "(the next poll)",
		"curl -s http://127.0.0.1:",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("story lacks %q:\n%s", want, s)
		}
	}
	if i, j := strings.Index(s, "②"), strings.LastIndex(s, v1); j < i {
		t.Errorf("v1's answer does not come back after the revert:\n%s", s)
	}
}
