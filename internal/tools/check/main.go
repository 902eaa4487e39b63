// Command check is the project's test command: the one README.md names and
// .ci/run calls. It fails when any Go file is not gofmt-formatted, when go
// vet reports anything, or when any test fails under the race detector, in
// every Go module of the repository.
//
// Usage, from the repository root:
//
//	go run ./internal/tools/check [go test flags, e.g. -short or -run X]
//
// The race detector needs cgo and a C compiler. Where they are missing the
// tests run without it, with a warning; with EZOP_CHECK_REQUIRE_RACE=1 (as
// .ci/run sets) that is a failure instead.
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "check: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("check: PASS")
}

func run(testFlags []string) error {
	modules, err := findModules(".")
	if err != nil {
		return err
	}
	if err := checkFormat(); err != nil {
		return err
	}
	race, why := raceAvailable()
	if !race {
		if os.Getenv("EZOP_CHECK_REQUIRE_RACE") == "1" {
			return fmt.Errorf("the race detector is required but unavailable: %s", why)
		}
		fmt.Printf("check: WARNING: running tests WITHOUT the race detector: %s\n", why)
	}
	for _, dir := range modules {
		if err := goCmd(dir, "vet", "./..."); err != nil {
			return fmt.Errorf("go vet in %s: %w", dir, err)
		}
		args := []string{"test", "-count=1"}
		if race {
			args = append(args, "-race")
		}
		args = append(args, testFlags...)
		args = append(args, "./...")
		if err := goCmd(dir, args...); err != nil {
			return fmt.Errorf("go test in %s: %w", dir, err)
		}
	}
	return nil
}

// findModules returns every directory holding a go.mod, the root first.
func findModules(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	return dirs, err
}

// raceAvailable reports whether go test -race can build here: it needs
// cgo enabled and the C compiler go would use.
func raceAvailable() (bool, string) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "env", "CGO_ENABLED", "CC").Output()
	if err != nil {
		return false, "go env: " + err.Error()
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "1" {
		return false, "cgo is disabled (CGO_ENABLED=0, or no C compiler was found); install gcc"
	}
	if _, err := exec.LookPath(fields[1]); err != nil {
		return false, "no C compiler " + fields[1] + " on PATH; install gcc"
	}
	return true, ""
}

func checkFormat() error {
	gofmt := filepath.Join(runtime.GOROOT(), "bin", "gofmt")
	if _, err := os.Stat(gofmt); err != nil {
		gofmt = "gofmt"
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(gofmt, "-l", ".")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gofmt: %w: %s", err, stderr.String())
	}
	var bad []string
	for _, f := range strings.Fields(out.String()) {
		if !strings.Contains(filepath.ToSlash(f), "/testdata/") {
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("files not gofmt-formatted (run gofmt -w):\n  %s", strings.Join(bad, "\n  "))
	}
	fmt.Println("check: gofmt clean")
	return nil
}

func goCmd(dir string, args ...string) error {
	fmt.Printf("check: (cd %s && go %s)\n", dir, strings.Join(args, " "))
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
