package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

// With a key the server refuses: one line names the problem and the fix,
// and nothing is sent.
func TestRunWithARefusedKey(t *testing.T) {
	srv := ezoptest.NewServer()
	defer srv.Close()
	const key = "ezop_sk_0000000000000000000000000000000000000000000000000000000000000bad"
	env := map[string]string{"EZOP_API_URL": srv.URL, "EZOP_API_KEY": key}
	var out bytes.Buffer
	err := run(context.Background(), &out, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "not sending") {
		t.Fatalf("run: %v", err)
	}
	text := strings.TrimSpace(out.String())
	if strings.Count(text, "\n") != 0 || !strings.HasPrefix(text, "ezop check: "+srv.URL+": the server refused the API key (403)") ||
		!strings.Contains(text, "fix: set EZOP_API_KEY") || strings.Contains(text, key) {
		t.Errorf("output: %q", text)
	}
	if n := len(srv.Agents()) + len(srv.Runs()); n != 0 {
		t.Errorf("%d records stored", n)
	}
}
