package bridge

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// README.md's classification table lists classRules, in their order.
func TestREADMEClassificationTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "### Span classification")
	end := strings.Index(text, "### Events synthesized")
	if start < 0 || end < start {
		t.Fatal("README.md has no span classification section")
	}
	// What each rule's row names, as the README spells it.
	marker := map[string]string{
		"adk merged tools": "`(merged tools)`",
		"has a tool name":  "has a tool name",
		"has a model":      "has a model",
	}
	row := regexp.MustCompile(`(?m)^\| (\d+) \| (.*)$`)
	rows := row.FindAllStringSubmatch(text[start:end], -1)
	if len(rows) != len(classRules) {
		t.Fatalf("README lists %d rules, classRules has %d", len(rows), len(classRules))
	}
	for i, r := range classRules {
		m, ok := marker[r.name]
		if !ok {
			m = "`" + r.name + "`"
		}
		if !strings.Contains(rows[i][2], m) {
			t.Errorf("README row %s does not name rule %d (%s): %s", rows[i][1], i+1, r.name, rows[i][2])
		}
	}
}
