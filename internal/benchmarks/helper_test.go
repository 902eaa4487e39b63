package benchmarks

// The helper process: the test binary started again with EZOP_BENCH_HELPER
// set runs one server (the emulator, a minimal Ezop-like handler or an OTLP
// sink) and answers commands on stdin, one per line:
//
//	cpu              its CPU time so far (user+system, µs)
//	latency <dur>    emulator: delay every request (ezoptest SetLatency)
//	reset            emulator: forget all data
//	stats            emulator: runs, spans, events stored, rejections, requests
//
// It exits when stdin closes.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ezopotel/ezop-otel-go/ezoptest"
)

const helperEnv = "EZOP_BENCH_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// sinkAnswer is what the minimal handler answers: the size and shape of the
// emulator's answer to a span create.
var sinkAnswer = []byte(`{"success":true,"data":{"id":"0b4c1e6e-8d1f-5a3c-9e2b-7f6a5d4c3b2a","run_id":"5f0d2c1b-3a4e-4f6d-8b7c-9a0e1d2c3b4a","agent_id":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","parent_id":null,"name":"chat gpt-4o-mini","start_time":"2026-01-02T15:04:05.123456Z","end_time":null,"metadata":{"otel":{"kind":"client","status":"Unset"}},"organization_id":"6e5d4c3b-2a1f-4e0d-9c8b-7a6f5e4d3c2b","created_at":"2026-01-02T15:04:05.123456Z","updated_at":"2026-01-02T15:04:05.123456Z"},"error":null}`)

// sinkIDAt is where the last 12 hex digits of the answer's record id are.
var sinkIDAt = bytes.Index(sinkAnswer, []byte("7f6a5d4c3b2a"))

func runHelper(mode string) int {
	var url, key string
	var srv *ezoptest.Server
	switch mode {
	case "ezoptest":
		srv = ezoptest.NewServer()
		url, key = srv.URL, srv.APIKey
	case "sink", "otlp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var h http.HandlerFunc
		if mode == "sink" {
			// The minimal handler: read the body, answer an envelope
			// whose record has a fresh id (the client tells runs apart
			// by it).
			var n atomic.Uint64
			h = func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				answer := append([]byte(nil), sinkAnswer...)
				copy(answer[sinkIDAt:], fmt.Sprintf("%012x", n.Add(1)))
				w.Header().Set("Content-Type", "application/json")
				if r.Method == http.MethodPost {
					w.WriteHeader(http.StatusCreated)
				}
				_, _ = w.Write(answer)
			}
		} else {
			// The OTLP/HTTP sink: read and discard; an empty protobuf
			// body is a valid ExportTraceServiceResponse.
			h = func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/x-protobuf")
				w.WriteHeader(http.StatusOK)
			}
		}
		go func() { _ = http.Serve(ln, h) }()
		url, key = "http://"+ln.Addr().String(), "-"
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	fmt.Printf("ready %s %s\n", url, key)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		reply := "ok"
		switch {
		case f[0] == "cpu":
			reply = strconv.FormatInt(cpuTime(syscall.RUSAGE_SELF).Microseconds(), 10)
		case f[0] == "latency" && srv != nil && len(f) == 2:
			d, err := time.ParseDuration(f[1])
			if err != nil {
				reply = "error " + err.Error()
			} else {
				srv.SetLatency(d)
			}
		case f[0] == "reset" && srv != nil:
			srv.Reset()
		case f[0] == "stats" && srv != nil:
			total := 0
			for _, n := range srv.Requests() {
				total += n
			}
			reply = fmt.Sprintf("%d %d %d %d %d", len(srv.Runs()), len(srv.AllSpans()), len(srv.AllEvents()), len(srv.Rejected()), total)
		default:
			reply = "error unknown command " + strconv.Quote(sc.Text())
		}
		fmt.Println(reply)
	}
	if srv != nil {
		srv.Close()
	}
	return 0
}

// cpuTime is the user+system CPU time of who (RUSAGE_SELF: the process;
// rusageThread: the calling OS thread).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1

// helper is a running helper process.
type helper struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Reader
	URL, Key string
}

func startHelper(tb testing.TB, mode string) *helper {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	h := &helper{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	tb.Cleanup(h.close)
	line, err := h.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("helper %s: %v", mode, err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ready" {
		tb.Fatalf("helper %s: %q", mode, line)
	}
	h.URL, h.Key = f[1], f[2]
	return h
}

func (h *helper) call(tb testing.TB, line string) string {
	tb.Helper()
	if _, err := fmt.Fprintln(h.in, line); err != nil {
		tb.Fatalf("helper: %v", err)
	}
	reply, err := h.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("helper: %v", err)
	}
	reply = strings.TrimSpace(reply)
	if strings.HasPrefix(reply, "error") {
		tb.Fatalf("helper: %s: %s", line, reply)
	}
	return reply
}

// cpu returns the helper's CPU time so far.
func (h *helper) cpu(tb testing.TB) time.Duration {
	us, err := strconv.ParseInt(h.call(tb, "cpu"), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return time.Duration(us) * time.Microsecond
}

// stored is what the emulator holds.
type stored struct{ runs, spans, events, rejected, requests int }

func (h *helper) stats(tb testing.TB) stored {
	var s stored
	if _, err := fmt.Sscan(h.call(tb, "stats"), &s.runs, &s.spans, &s.events, &s.rejected, &s.requests); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (h *helper) close() {
	_ = h.in.Close()
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
}
