package registrytest_test

import (
	"net/http"
	"testing"

	"github.com/eaglenotifier/talon/registry/registrytest"
)

func TestServeAndStop(t *testing.T) {
	host, stop, err := registrytest.Serve()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %s", resp.Status)
	}
	stop()
	http.DefaultClient.CloseIdleConnections()
	if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /v2/ after stop: %s, want a connection error", resp.Status)
	}
}
