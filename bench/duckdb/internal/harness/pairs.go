package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/gen"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/proc"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/results"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/verify"
)

// runPairs runs the warm-up and measured pairs of one workload on cores
// cores: DuckDB, then s3ingest, alternated, each output checked against
// the generator's truth and then deleted.
func runPairs(ctx context.Context, c *Config, r *Runner, workload string, cores int, work string) ([]results.Sample, error) {
	var out []results.Sample
	for i := 1; i <= c.Warmup+c.Pairs; i++ {
		for _, impl := range []string{results.DuckDB, results.S3ingest} {
			s, err := r.One(ctx, workload, cores, impl, work)
			if err != nil {
				return out, err
			}
			s.Pair, s.Warmup = i-c.Warmup, i <= c.Warmup
			LogSample(r.Log, s)
			out = append(out, *s)
		}
	}
	return out, nil
}

// LogSample writes one line about s.
func LogSample(w io.Writer, s *results.Sample) {
	what := fmt.Sprintf("pair %d", s.Pair)
	if s.Warmup {
		what = "warm-up"
	}
	fmt.Fprintf(w, "bench: %-14s %d core(s) %-8s %-8s %7.2f s  peak RSS %4d MB\n",
		s.Workload, s.Cores, s.Impl, what, s.WallSeconds, s.PeakRSSBytes>>20)
}

// Runner runs one implementation on one input as a whole process and
// checks its output.
type Runner struct {
	DuckRun, S3Run string // the binaries
	Files          *gen.Files
	Log            io.Writer
}

// One runs impl (results.DuckDB or results.S3ingest) on the workload's
// file, pinned to cores cores, in a fresh directory under work, reads
// its output back with DuckDB, checks it against the truth and deletes it.
func (r *Runner) One(ctx context.Context, workload string, cores int, impl, work string) (*results.Sample, error) {
	dir := filepath.Join(work, impl)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in := r.Files.Paths[workload]
	var cmd proc.Command
	var glob string
	switch impl {
	case results.DuckDB:
		outFile := filepath.Join(dir, "out.parquet")
		cmd = proc.Command{Cores: cores, Path: r.DuckRun, Dir: dir,
			Args: []string{"copy", "-format", workload, "-in", in, "-out", outFile, "-threads", strconv.Itoa(cores)}}
		glob = outFile
	case results.S3ingest:
		cmd = proc.Command{Cores: cores, Path: r.S3Run, Dir: dir, Args: []string{"-in", in, "-sink", filepath.Join(dir, "sink")}}
		glob = filepath.Join(dir, "sink", "*", "*", "*.parquet")
	default:
		return nil, fmt.Errorf("implementation %q: want %s or %s", impl, results.DuckDB, results.S3ingest)
	}
	// Untimed: write back what earlier runs left dirty (outputs, the
	// generated data), so that no run pays for another's writes — the
	// s3ingest runs fsync their output, DuckDB's do not.
	syscall.Sync()
	res, err := proc.Run(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("%s %s on %d core(s): %w", impl, workload, cores, err)
	}
	s := &results.Sample{Workload: workload, Cores: cores, Impl: impl, Result: *res}
	if err := r.Check(ctx, s, glob); err != nil {
		return nil, err
	}
	return s, nil
}

// Check reads the Parquet files matching glob back with DuckDB into
// s.Output and checks them against the truth.
func (r *Runner) Check(ctx context.Context, s *results.Sample, glob string) error {
	if err := proc.Output(ctx, &s.Output, r.DuckRun, "stats", "-in", glob); err != nil {
		return fmt.Errorf("read back the %s output of %s: %w", s.Impl, s.Workload, err)
	}
	if err := verify.Check(s.Impl, s.Output, r.Files.Truth); err != nil {
		return fmt.Errorf("%s on %d core(s): %w", s.Workload, s.Cores, err)
	}
	return nil
}
