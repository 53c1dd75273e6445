package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries are the programs a run executes, built once into a
// temporary directory.
type binaries struct {
	duckrun, s3run string
	ingestd, e2e   string // with Config.E2E only
}

// build builds the runners (and ingestd and the end-to-end test binary).
// ingestd is built in the main module with its own go.sum, exactly as it
// ships; s3run is built in this module (see the README for what that
// means for dependency versions).
func build(ctx context.Context, c *Config, dir string) (*binaries, error) {
	b := &binaries{duckrun: filepath.Join(dir, "duckrun"), s3run: filepath.Join(dir, "s3run")}
	steps := [][]string{
		{c.ModuleDir, "build", "-o", b.duckrun, "./cmd/duckrun"},
		{c.ModuleDir, "build", "-o", b.s3run, "./cmd/s3run"},
	}
	if c.E2E {
		b.ingestd, b.e2e = filepath.Join(dir, "ingestd"), filepath.Join(dir, "e2e.test")
		steps = append(steps,
			[]string{filepath.Join(c.ModuleDir, "..", ".."), "build", "-o", b.ingestd, "./cmd/ingestd"},
			[]string{c.ModuleDir, "test", "-c", "-o", b.e2e, "./e2e"})
	}
	for _, s := range steps {
		fmt.Fprintf(c.Log, "bench: go %s (in %s)\n", strings.Join(s[1:], " "), s[0])
		cmd := exec.CommandContext(ctx, goTool(), s[1:]...)
		cmd.Dir = s[0]
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %s in %s: %w\n%s", strings.Join(s[1:], " "), s[0], err, out)
		}
	}
	return b, nil
}

// goTool is the go command of the toolchain running the harness.
func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		return p
	}
	return "go"
}
