package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/gen"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/proc"
)

// data returns the generated files in c.DataDir, generating them unless a
// data set of the same version, rows and seed is already there. The
// Parquet input is written by DuckDB from the CSV (COPY … (FORMAT
// parquet, COMPRESSION snappy)): a neutral writer for both readers.
func data(ctx context.Context, c *Config, bin *binaries) (*gen.Files, error) {
	if f, ok := gen.Load(c.DataDir, c.Rows, c.Seed); ok {
		fmt.Fprintf(c.Log, "bench: reusing the data in %s\n", c.DataDir)
		return f, nil
	}
	start := time.Now()
	fmt.Fprintf(c.Log, "bench: generating %d rows into %s\n", c.Rows, c.DataDir)
	f, err := gen.Write(c.DataDir, c.Rows, c.Seed)
	if err != nil {
		return nil, fmt.Errorf("generate data: %w", err)
	}
	pq := filepath.Join(c.DataDir, "data.parquet")
	os.Remove(pq)
	var res map[string]any
	if err := proc.Output(ctx, &res, bin.duckrun, "toparquet", "-in", f.Paths["csv"], "-out", pq); err != nil {
		return nil, fmt.Errorf("write the Parquet input: %w", err)
	}
	f.Paths["parquet"] = pq
	if err := f.Save(c.DataDir); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Log, "bench: data generated in %s: %v bytes\n", time.Since(start).Round(time.Second), f.Bytes)
	return f, nil
}
