package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/results"
)

// runE2E runs the end-to-end pairs through the e2e test binary (which
// starts Redis and SeaweedFS with the main module's internal/testenv,
// and ingestd as a child process) and returns its samples.
func runE2E(ctx context.Context, c *Config, bin *binaries, work string) ([]results.Sample, error) {
	out := filepath.Join(work, "e2e.json")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin.e2e, "-test.run", "^TestEndToEnd$", "-test.v", "-test.timeout", "0",
		"-bench.data", c.DataDir, "-bench.rows", strconv.FormatInt(c.Rows, 10), "-bench.seed", strconv.FormatUint(c.Seed, 10),
		"-bench.duckrun", bin.duckrun, "-bench.ingestd", bin.ingestd, "-bench.work", filepath.Join(work, "e2e"),
		"-bench.pairs", strconv.Itoa(c.Pairs), "-bench.warmup", strconv.Itoa(c.Warmup),
		"-bench.cores", strconv.Itoa(c.E2ECores), "-bench.out", out)
	cmd.Dir = filepath.Join(c.ModuleDir, "e2e")
	cmd.Stdout, cmd.Stderr = c.Log, c.Log
	fmt.Fprintf(c.Log, "bench: end to end: %s\n", cmd)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("end-to-end run: %w", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var samples []results.Sample
	if err := json.Unmarshal(b, &samples); err != nil {
		return nil, fmt.Errorf("%s: %w", out, err)
	}
	return samples, nil
}
