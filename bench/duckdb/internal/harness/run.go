package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/proc"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/results"
)

// Run runs the benchmark c describes, writes c.Out and the table, and
// returns the results.
func Run(ctx context.Context, c Config) (*results.File, error) {
	if err := c.withDefaults(); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "s3ingest-duckdb-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	work := c.WorkDir
	if work == "" {
		work = filepath.Join(tmp, "work")
	}
	bin, err := build(ctx, &c, filepath.Join(tmp, "bin"))
	if err != nil {
		return nil, err
	}
	files, err := data(ctx, &c, bin)
	if err != nil {
		return nil, err
	}
	f := &results.File{Date: time.Now().UTC().Format(time.RFC3339), Command: c.Command, Rows: c.Rows, Seed: c.Seed,
		Pairs: c.Pairs, Warmup: c.Warmup, InputBytes: files.Bytes, Truth: files.Truth, Commit: gitCommit(c.ModuleDir)}
	m := &f.Machine
	m.CPU, m.CPUs, m.MemBytes, m.Kernel, m.LoadAvg, m.CPUFlags = machineInfo()
	if f.GoVersion, err = goVersion(ctx); err != nil {
		return nil, err
	}
	var v map[string]string
	if err := proc.Output(ctx, &v, bin.duckrun, "version"); err != nil {
		return nil, err
	}
	f.DuckDBVersion = v["version"]

	r := &Runner{DuckRun: bin.duckrun, S3Run: bin.s3run, Files: files, Log: c.Log}
	var failed []string
	add := func(w string, cores int, inputBytes int64, samples []results.Sample, err error) {
		f.Samples = append(f.Samples, samples...)
		s := results.Summarize(w, cores, inputBytes, samples)
		if err != nil {
			// One workload failing leaves the others' results: recorded,
			// reported, and Run fails at the end.
			s.Error = err.Error()
			failed = append(failed, fmt.Sprintf("%s on %d core(s)", w, cores))
			fmt.Fprintf(c.Log, "bench: FAILED: %v\n", err)
		}
		f.Summaries = append(f.Summaries, s)
	}
	local := c.Cores
	if c.E2EOnly {
		local = nil
	}
	for _, cores := range local {
		for _, w := range c.Workloads {
			samples, err := runPairs(ctx, &c, r, w, cores, work)
			add(w, cores, files.Bytes[w], samples, err)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	if c.E2E {
		samples, err := runE2E(ctx, &c, bin, work)
		add(results.WorkloadE2E, c.E2ECores, files.Bytes["csv"], samples, err)
		f.Notes = append(f.Notes, "End to end: s3ingest's time runs from enqueueing the ingest job to its result "+
			"(ingestd started and serving before; Redis, SeaweedFS and ingestd share the machine), its peak RSS is ingestd's VmHWM; "+
			"DuckDB reads the same CSV from local disk."+workerNote(samples))
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.Out, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Log, "bench: wrote %s\n", c.Out)
	results.Markdown(c.Table, f)
	if len(failed) > 0 {
		return f, fmt.Errorf("%d workload(s) failed: %s (see %s)", len(failed), strings.Join(failed, ", "), c.Out)
	}
	return f, nil
}

func goVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// gitCommit returns the checked-out commit (with "+dirty" for local
// changes), or "" outside git.
func gitCommit(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

// workerNote says how much of the end-to-end time the worker itself
// reports (the job's own duration): the rest is the job's pickup (asynq's
// idle workers poll every second) and the result's delivery.
func workerNote(samples []results.Sample) string {
	var w, wall []float64
	for _, s := range samples {
		if secs, ok := s.Reported["worker_seconds"].(float64); ok && !s.Warmup {
			w, wall = append(w, secs), append(wall, s.WallSeconds)
		}
	}
	if len(w) == 0 {
		return ""
	}
	return fmt.Sprintf(" Of the median %.2f s, the job itself took %.2f s (the result's duration); the rest is its pickup "+
		"(an idle ingestd looks for new tasks every 250 ms, S3INGEST_POLL_INTERVAL) and the result's delivery.", results.Median(wall), results.Median(w))
}
