package ezopotel_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every environment variable the exporter reads (the EZOP_* names of
// exporter/env.go) has a row in README.md's Configuration table.
func TestREADMEEnvironmentVariables(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, config, _ := strings.Cut(string(readme), "\n## Configuration\n")
	config, _, _ = strings.Cut(config, "\n## ")
	src, err := os.ReadFile("exporter/env.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"(EZOP_[A-Z_]*[A-Z])"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d variables in exporter/env.go", len(names))
	}
	for _, m := range names {
		if !strings.Contains(config, "| `"+m[1]+"` |") {
			t.Errorf("README.md's Configuration table has no row for %s", m[1])
		}
	}
}
