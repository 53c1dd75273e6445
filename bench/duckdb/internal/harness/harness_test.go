package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/results"
)

// TestSmoke runs the whole harness on tiny data (20k rows, one pair, one
// core, no warm-up, no end-to-end): both runners must load every row of
// every workload (Runner.One checks each output against the generator's
// truth), and the results file and the table must be written.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds DuckDB (about a minute) and runs 10 processes")
	}
	dir := t.TempDir()
	var table, log bytes.Buffer
	out := filepath.Join(dir, "results.json")
	f, err := Run(context.Background(), Config{Rows: 20_000, Pairs: 1, Warmup: -1, Cores: []int{1},
		DataDir: filepath.Join(dir, "data"), WorkDir: filepath.Join(dir, "work"), Out: out, Log: &log, Table: &table})
	if f == nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var back results.File
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if len(back.Summaries) != len(Workloads) || back.DuckDBVersion == "" || back.GoVersion == "" || back.Machine.CPUs == 0 {
		t.Errorf("results.json is incomplete: %d summaries, DuckDB %q, Go %q, machine %+v",
			len(back.Summaries), back.DuckDBVersion, back.GoVersion, back.Machine)
	}
	for _, s := range back.Summaries {
		if s.Error != "" {
			t.Errorf("%s: %s", s.Workload, s.Error)
			continue
		}
		rows := map[string]int64{}
		for _, x := range back.Samples {
			if x.Workload == s.Workload {
				rows[x.Impl] = x.Output.Rows
			}
		}
		if rows[results.DuckDB] != 20_000 || rows[results.S3ingest] != 20_000 {
			t.Errorf("%s: rows read back %v, want 20000 from each", s.Workload, rows)
		}
		if s.Ratio <= 0 || s.Pairs != 1 {
			t.Errorf("%s: ratio %v over %d pairs", s.Workload, s.Ratio, s.Pairs)
		}
		if !strings.Contains(table.String(), results.Labels[s.Workload]) {
			t.Errorf("the table has no row for %s:\n%s", s.Workload, table.String())
		}
	}
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	if t.Failed() {
		t.Logf("log:\n%s", log.String())
	}
}
