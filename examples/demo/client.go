package demo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/eaglenotifier/talon/examples/pdm"
)

// prediction is what the story prints of one infer response.
type prediction struct {
	Version, Digest, Commit string
	Probability             float64
}

// infer asks Talon's Open Inference Protocol endpoint for org's failure probability of one
// machine's sensor row, exactly as a KServe v2 client would.
func infer(ctx context.Context, base, org string, row [pdm.NumFeatures]float32) (prediction, error) {
	body, _ := json.Marshal(map[string]any{
		"inputs": []map[string]any{{
			"name": pdm.InputName, "datatype": "FP32", "shape": []int{1, pdm.NumFeatures}, "data": row[:],
		}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/models/"+org+"/infer", bytes.NewReader(body))
	if err != nil {
		return prediction{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return prediction{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return prediction{}, fmt.Errorf("infer %s: %s: %s", org, resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		ModelVersion string         `json:"model_version"`
		Parameters   map[string]any `json:"parameters"`
		Outputs      []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return prediction{}, fmt.Errorf("infer %s: %w", org, err)
	}
	if len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 {
		return prediction{}, fmt.Errorf("infer %s: unexpected outputs %s", org, b)
	}
	str := func(k string) string { s, _ := out.Parameters[k].(string); return s }
	return prediction{
		Version: out.ModelVersion, Digest: str("talon_model_digest"), Commit: str("talon_config_commit"),
		Probability: out.Outputs[0].Data[0],
	}, nil
}

// waitFor polls org until it serves version and returns that prediction, or gives up
// after timeout.
func waitFor(ctx context.Context, base, org, version string, row [pdm.NumFeatures]float32, timeout time.Duration) (prediction, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		p, err := infer(ctx, base, org, row)
		if err == nil && p.Version == version {
			return p, nil
		}
		if err == nil {
			last = fmt.Errorf("%s still serves %s", org, p.Version)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return prediction{}, fmt.Errorf("waiting for %s to serve %s: %w (last: %v)", org, version, ctx.Err(), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pushHook tells Talon about a push the way GitHub does: POST /hooks/git with a push event
// for commit on main, signed (X-Hub-Signature-256) with the webhook secret.
func pushHook(ctx context.Context, base string, secret []byte, commit string) error {
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"full_name":"demo/config"}}`, commit)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/hooks/git", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("push webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("push webhook: %s, want 202 Accepted", resp.Status)
	}
	return nil
}
