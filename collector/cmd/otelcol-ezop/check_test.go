package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// checkConfig writes a configuration with two ezop exporters, one with
// the emulator's key and one with key2.
func checkConfig(t *testing.T, srv *ezoptest.Server, key2 string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	cfg := `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
exporters:
  ezop:
    endpoint: ` + srv.URL + `
    api_key: ` + srv.APIKey + `
  ezop/second:
    endpoint: ` + srv.URL + `
    api_key: ` + key2 + `
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [ezop, ezop/second]
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// otelcol-ezop check --config …: one line per ezop exporter, a failure
// names its fix and never the key; the command fails if any check does.
func TestCheckCommand(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()

	var out bytes.Buffer
	cmd := newCheckCommand(settings())
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--config", checkConfig(t, srv, srv.APIKey)})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ezop: ok: "+srv.URL+" is reachable and accepts the API key") ||
		!strings.HasPrefix(lines[1], "ezop/second: ok: ") {
		t.Errorf("output:\n%s", out.String())
	}

	const bad = "ezop_sk_0000000000000000000000000000000000000000000000000000000000000bad"
	out.Reset()
	err := runCheck(context.Background(), &out, settings(), []string{checkConfig(t, srv, bad)})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 ezop exporters failed the check") {
		t.Fatalf("check: %v", err)
	}
	text := out.String()
	if !strings.Contains(text, "ezop: ok: ") || !strings.Contains(text, "ezop/second: FAILED: ezop check: "+srv.URL+": the server refused the API key (403); fix: set the exporter's api_key") ||
		strings.Contains(text, bad) {
		t.Errorf("output:\n%s", text)
	}
	if len(srv.Agents())+len(srv.Runs()) != 0 {
		t.Error("check stored something")
	}
}

func TestCheckCommandWithoutConfig(t *testing.T) {
	if err := runCheck(context.Background(), &bytes.Buffer{}, settings(), nil); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("check without a configuration: %v", err)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("receivers:\n  otlp:\n    protocols:\n      http:\nexporters: {}\nservice:\n  pipelines: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runCheck(context.Background(), &bytes.Buffer{}, settings(), []string{path}); err == nil || !strings.Contains(err.Error(), "no ezop exporter") {
		t.Errorf("check without an ezop exporter: %v", err)
	}
}
