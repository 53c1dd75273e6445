// Command bench runs the benchmark against DuckDB (see package harness and
// bench/duckdb/README.md): from the repository root,
//
//	cd bench/duckdb && go run ./cmd/bench                       # the full run: 10 M rows, 3 pairs, 1 and 2 cores, end to end
//	cd bench/duckdb && go run ./cmd/bench -rows 200000 -pairs 1 -out /tmp/smoke.json   # a smoke run
//
// It writes results.json (-out) and prints the README table on stdout;
// progress goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/harness"
)

func main() {
	var c harness.Config
	var cores, workloads string
	flag.Int64Var(&c.Rows, "rows", 10_000_000, "rows of generated data")
	flag.Uint64Var(&c.Seed, "seed", 1, "seed of the generator")
	flag.IntVar(&c.Pairs, "pairs", 3, "measured (DuckDB, s3ingest) pairs per workload and core count")
	flag.IntVar(&c.Warmup, "warmup", 1, "warm-up pairs before them (not measured; -1: none)")
	flag.StringVar(&cores, "cores", "1,2", "core counts (taskset -c 0 / 0,1; GOMAXPROCS and DuckDB threads)")
	flag.StringVar(&workloads, "workloads", strings.Join(harness.Workloads, ","), "workloads")
	flag.BoolVar(&c.E2E, "e2e", true, "also run the end-to-end path: S3 (SeaweedFS) → ingestd → dataset")
	flag.IntVar(&c.E2ECores, "e2e-cores", 2, "cores of the end-to-end run")
	flag.BoolVar(&c.E2EOnly, "e2e-only", false, "run only the end-to-end path (not the local workloads)")
	flag.StringVar(&c.DataDir, "data", "", "directory of the generated data, reused while -rows and -seed match (default $TMPDIR/s3ingest-duckdb-bench/data)")
	flag.StringVar(&c.WorkDir, "work", "", "directory for the runs' outputs (default a temporary directory)")
	flag.StringVar(&c.Out, "out", "", "results file (default results.json in bench/duckdb)")
	flag.Parse()
	for _, s := range strings.Split(cores, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -cores %q: want a list of counts such as 1,2\n", cores)
			os.Exit(2)
		}
		c.Cores = append(c.Cores, n)
	}
	c.Workloads = strings.Split(workloads, ",")
	c.Command = "go run ./cmd/bench " + strings.Join(os.Args[1:], " ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := harness.Run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
