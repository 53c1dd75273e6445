// Package proc runs one benchmark process pinned to a CPU set and measures
// it from the outside: wall time from start to exit, and the child's
// rusage (peak RSS, user and system CPU).
package proc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUList returns the taskset CPU list of the first n CPUs: "0", "0,1"...
func CPUList(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return strings.Join(s, ",")
}

// Result is one measured run.
type Result struct {
	WallSeconds   float64 `json:"wall_seconds"`
	UserSeconds   float64 `json:"user_seconds"`
	SystemSeconds float64 `json:"system_seconds"`
	// PeakRSSBytes is the child's ru_maxrss (the whole process: heap,
	// stacks, binary, mapped files).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// Reported is what the process printed on stdout (one JSON object).
	Reported map[string]any `json:"reported,omitempty"`
}

// Command is one process to run.
type Command struct {
	// Cores pins the process to the first Cores CPUs with taskset and sets
	// GOMAXPROCS to Cores.
	Cores int
	Path  string
	Args  []string
	Dir   string   // working directory ("" = the caller's)
	Env   []string // added to the caller's environment
}

// Run runs c to its end and measures it. A process that fails is an
// error carrying its stderr.
func Run(ctx context.Context, c Command) (*Result, error) {
	args := append([]string{"-c", CPUList(c.Cores), c.Path}, c.Args...)
	cmd := exec.CommandContext(ctx, "taskset", args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(c.Cores))
	cmd.Env = append(cmd.Env, c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s\n(command: %s %s)", filepath.Base(c.Path), err, strings.TrimSpace(tail(stderr.String(), 4000)),
			c.Path, strings.Join(c.Args, " "))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return nil, fmt.Errorf("%s: no rusage on this platform", c.Path)
	}
	r := &Result{WallSeconds: wall.Seconds(), PeakRSSBytes: ru.Maxrss * 1024,
		UserSeconds:   time.Duration(ru.Utime.Nano()).Seconds(),
		SystemSeconds: time.Duration(ru.Stime.Nano()).Seconds()}
	if out := bytes.TrimSpace(stdout.Bytes()); len(out) > 0 {
		if err := json.Unmarshal(out, &r.Reported); err != nil {
			return nil, fmt.Errorf("%s printed %q, not one JSON object: %w", c.Path, tail(string(out), 400), err)
		}
	}
	return r, nil
}

// Output runs path with args (not pinned, not measured) and decodes its
// JSON output into v.
func Output(ctx context.Context, v any, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", path, strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s %s printed %q: %w", path, strings.Join(args, " "), tail(string(out), 400), err)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
