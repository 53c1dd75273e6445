// Package harness runs the benchmark against DuckDB: it builds the
// runners once, generates (or reuses) the data, runs DuckDB and s3ingest
// as whole processes paired and alternated on 1 and 2 cores, checks every
// output, runs the end-to-end path through ingestd, and writes
// results.json and the README table.
package harness

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Workloads are the input formats, in table order (keys of gen.Files).
var Workloads = []string{"csv", "csv.gz", "ndjson", "json", "parquet"}

// Config configures a run. The zero value of a field is its documented
// default.
type Config struct {
	// Rows is the number of generated rows (default 10,000,000).
	Rows int64
	// Seed seeds the generator (default 1).
	Seed uint64
	// Pairs is the number of measured (DuckDB, s3ingest) pairs per
	// workload and core count (default 3); Warmup pairs run first and are
	// not measured (default 1; negative: none).
	Pairs, Warmup int
	// Cores are the core counts (default 1 and 2).
	Cores []int
	// Workloads (default all of Workloads).
	Workloads []string
	// E2E runs the end-to-end path (S3 → ingestd) on E2ECores cores
	// (default 2) too.
	E2E      bool
	E2ECores int
	// E2EOnly skips the local workloads (Cores and Workloads): only the
	// end-to-end path runs (with E2E).
	E2EOnly bool
	// DataDir holds the generated data, reused while rows and seed match
	// (default $TMPDIR/s3ingest-duckdb-bench/data).
	DataDir string
	// WorkDir receives the outputs of the runs, deleted after each check
	// (default a temporary directory).
	WorkDir string
	// Out is the results file (default results.json in ModuleDir).
	Out string
	// ModuleDir is the bench/duckdb module's directory (default: found
	// from the working directory).
	ModuleDir string
	// Command is the command line recorded in the results.
	Command string
	// Log receives progress; Table the Markdown table (default stderr,
	// stdout).
	Log, Table io.Writer
}

func (c *Config) withDefaults() error {
	if c.Rows == 0 {
		c.Rows = 10_000_000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Pairs == 0 {
		c.Pairs = 3
	}
	if c.Warmup == 0 {
		c.Warmup = 1
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if len(c.Cores) == 0 {
		c.Cores = []int{1, 2}
	}
	if len(c.Workloads) == 0 {
		c.Workloads = Workloads
	}
	for _, w := range c.Workloads {
		if !contains(Workloads, w) {
			return fmt.Errorf("workload %q: want one of %s", w, strings.Join(Workloads, ", "))
		}
	}
	if c.E2ECores == 0 {
		c.E2ECores = 2
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join(os.TempDir(), "s3ingest-duckdb-bench", "data")
	}
	if c.ModuleDir == "" {
		d, err := FindModule()
		if err != nil {
			return err
		}
		c.ModuleDir = d
	}
	if c.Out == "" {
		c.Out = filepath.Join(c.ModuleDir, "results.json")
	}
	if c.Log == nil {
		c.Log = os.Stderr
	}
	if c.Table == nil {
		c.Table = os.Stdout
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// modulePath is this module's path, as its go.mod declares it.
const modulePath = "github.com/s3ingest/s3ingest/bench/duckdb"

// FindModule returns the bench/duckdb module directory: the working
// directory or a parent of it, or bench/duckdb below one (so the harness
// runs from the repository root too).
func FindModule() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		for _, c := range []string{d, filepath.Join(d, "bench", "duckdb")} {
			if isModule(c) {
				return c, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s module (bench/duckdb/go.mod) in or above %s: run from the repository", modulePath, wd)
		}
	}
}

func isModule(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && strings.HasPrefix(string(b), "module "+modulePath+"\n")
}
