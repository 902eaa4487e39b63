package ezopotel_test

// Tests of README.md: every Go block is code that compiles (it appears
// verbatim in a Go file of the module, which go vet and go test compile),
// every shell command is one this repository supports, and the
// configuration table names every option and environment variable.

import (
	"bufio"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ezopotel/ezop-otel-go/bridge"
	"github.com/ezopotel/ezop-otel-go/internal/client"
)

// block is a fenced code block of README.md.
type block struct {
	lang string
	line int // of the opening fence
	text string
}

// readmeBlocks returns the fenced code blocks of README.md. Fences may be
// indented (inside a list item); the block's lines lose that indentation.
func readmeBlocks(t *testing.T) []block {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []block
	var cur *block
	var indent string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if strings.HasPrefix(trimmed, "```") {
				indent = line[:len(line)-len(trimmed)]
				cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: n}
			}
			continue
		}
		if trimmed == "```" {
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		cur.text += strings.TrimPrefix(line, indent) + "\n"
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("README.md:%d: code block not closed", cur.line)
	}
	return blocks
}

// goFiles returns the Go files of the module that the go command compiles
// on this platform (vet and test compile test files too), by path.
func goFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		if ok, err := build.Default.MatchFile(filepath.Dir(path), d.Name()); err != nil || !ok {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(path)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// indentLines prefixes every non-empty line of s with prefix.
func indentLines(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// foundIn returns the files that hold code verbatim, at any indentation.
func foundIn(code string, files map[string]string) []string {
	var in []string
	for path, src := range files {
		for tabs := 0; tabs <= 4; tabs++ {
			if strings.Contains(src, indentLines(code, strings.Repeat("\t", tabs))) {
				in = append(in, path)
				break
			}
		}
	}
	sort.Strings(in)
	return in
}

func TestREADMEGoBlocksAreCompiled(t *testing.T) {
	files := goFiles(t)
	const snippets = "exporter/example_readme_test.go"
	if _, ok := files[snippets]; !ok {
		t.Fatalf("%s is missing", snippets)
	}
	quoted := 0
	for _, b := range readmeBlocks(t) {
		switch b.lang {
		case "go":
		case "sh", "text":
			continue
		case "yaml":
			// Collector configuration; YAML forbids tabs in indentation.
			for i, l := range strings.Split(b.text, "\n") {
				if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
					t.Errorf("README.md:%d: YAML indented with a tab", b.line+1+i)
				}
			}
			continue
		default:
			t.Errorf("README.md:%d: code block of language %q: use go (compiled), sh (known commands), yaml or text", b.line, b.lang)
			continue
		}
		in := foundIn(b.text, files)
		if len(in) == 0 {
			t.Errorf("README.md:%d: this Go block is in no compiled Go file; quote the code of an Example or an example program verbatim:\n%s", b.line, b.text)
			continue
		}
		for _, p := range in {
			if p == snippets {
				quoted++
			}
		}
	}
	// The TracerProvider snippet is the Example's.
	if quoted == 0 {
		t.Errorf("README.md quotes nothing from %s", snippets)
	}
	if !strings.Contains(files[snippets], "func Example_tracerProvider()") {
		t.Errorf("%s: Example_tracerProvider is gone", snippets)
	}
}

// knownCommands are the commands README.md may show: the two commands of
// "Try it", installation, and the other examples.
func knownCommands(t *testing.T) map[string]bool {
	t.Helper()
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod names no module")
	}
	known := map[string]bool{
		"go run ./internal/tools/check": true,
		"go get " + string(m[1]):        true,
	}
	// The benchmarks' one command (BENCHMARKS.md has the results).
	if _, err := os.Stat("internal/benchmarks"); err == nil {
		known["go test -run='^$' -bench=Ezop -benchtime=3s -timeout=15m ./internal/benchmarks/"] = true
	}
	examples, _ := filepath.Glob("examples/*/main.go")
	for _, e := range examples {
		known["go run ./"+filepath.ToSlash(filepath.Dir(e))] = true
	}
	// The Collector distribution, a module of its own (go -C runs the go
	// command there): run with the example configuration, and its
	// throughput benchmark.
	const distro = "collector/cmd/otelcol-ezop"
	if _, err := os.Stat(filepath.Join(distro, "main.go")); err == nil {
		if _, err := os.Stat(filepath.Join("collector", "otelcol-ezop.yaml")); err == nil {
			known["go -C "+distro+" run . --config ../../otelcol-ezop.yaml"] = true
			known["go -C "+distro+" run . check --config ../../otelcol-ezop.yaml"] = true
		}
		known["go -C "+distro+" test -run XXX -bench . -benchtime 4000x"] = true
	}
	return known
}

// envAssignment is a leading VAR=value of a command line.
var envAssignment = regexp.MustCompile(`^(EZOP_API_URL|EZOP_API_KEY|OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)=\S+\s+`)

func TestREADMECommands(t *testing.T) {
	known := knownCommands(t)
	var cmds []string
	for _, b := range readmeBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(b.text), "\n") {
			cmd := strings.TrimSpace(line)
			for envAssignment.MatchString(cmd) {
				cmd = envAssignment.ReplaceAllString(cmd, "")
			}
			if !known[cmd] {
				t.Errorf("README.md:%d: unknown command %q (known: %v)", b.line, line, keys(known))
			}
			cmds = append(cmds, cmd)
		}
	}
	// "Try it": exactly the demo and the test command, first.
	if len(cmds) < 2 || cmds[0] != "go run ./examples/quickstart" || cmds[1] != "go run ./internal/tools/check" {
		t.Errorf("README.md's first two commands are %q, want the quickstart and the test command", cmds[:min(2, len(cmds))])
	}
	// The test command is the one CI runs.
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^go run ./internal/tools/check\s*$`).Match(ci) {
		t.Error(".ci/run does not run `go run ./internal/tools/check`, README.md's test command")
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// exporterOptions returns the names of the functions of package exporter
// that return an Option.
func exporterOptions(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("exporter/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == "Option" {
				names = append(names, fn.Name.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func TestREADMEConfiguration(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, config, _ := strings.Cut(string(readme), "\n## Configuration\n")
	config, _, _ = strings.Cut(config, "\n## ")
	if config == "" {
		t.Fatal("README.md has no Configuration section")
	}
	opts := exporterOptions(t)
	if len(opts) < 10 {
		t.Fatalf("found only %d exporter options: %v", len(opts), opts)
	}
	for _, o := range opts {
		if !strings.Contains(config, "| `"+o+"(") {
			t.Errorf("README.md's configuration table has no row for exporter.%s", o)
		}
	}
	for _, env := range []string{client.EnvAPIURL, client.EnvAPIKey, bridge.CaptureContentEnv} {
		if !strings.Contains(config, "| `"+env+"` |") {
			t.Errorf("README.md's configuration table has no row for %s", env)
		}
	}
	if !strings.Contains(config, client.DefaultEndpoint) {
		t.Errorf("README.md's configuration does not name the default endpoint %s", client.DefaultEndpoint)
	}
}

// Every example is listed, and has a test.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	mains, _ := filepath.Glob("examples/*/main.go")
	if len(mains) < 4 {
		t.Errorf("examples: %v", mains)
	}
	for _, m := range mains {
		dir := filepath.ToSlash(filepath.Dir(m))
		if !strings.Contains(string(readme), "`"+dir+"`") {
			t.Errorf("README.md does not list %s", dir)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "main_test.go")); err != nil {
			t.Errorf("%s has no main_test.go", dir)
		}
	}
	// A Benchmarks section points at BENCHMARKS.md, which must exist.
	if strings.Contains(string(readme), "BENCHMARKS.md") {
		if _, err := os.Stat("BENCHMARKS.md"); err != nil {
			t.Error("README.md refers to BENCHMARKS.md, which does not exist")
		}
	}
}
