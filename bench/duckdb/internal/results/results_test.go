package results

import (
	"bytes"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/proc"
)

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestSummarize checks medians, the ratio's direction (DuckDB ÷ s3ingest)
// and that warm-ups and other workloads are left out.
func TestSummarize(t *testing.T) {
	s := func(w string, cores int, impl string, pair int, warm bool, wall float64, rss int64) Sample {
		return Sample{Workload: w, Cores: cores, Impl: impl, Pair: pair, Warmup: warm,
			Result: proc.Result{WallSeconds: wall, UserSeconds: wall / 2, PeakRSSBytes: rss}}
	}
	samples := []Sample{
		s("csv", 1, DuckDB, 0, true, 100, 1), s("csv", 1, S3ingest, 0, true, 100, 1), // warm-up
		s("csv", 1, DuckDB, 1, false, 6, 300), s("csv", 1, S3ingest, 1, false, 3, 90),
		s("csv", 1, DuckDB, 2, false, 8, 310), s("csv", 1, S3ingest, 2, false, 4, 80),
		s("csv", 1, DuckDB, 3, false, 7, 320), s("csv", 1, S3ingest, 3, false, 7, 85),
		s("csv", 2, DuckDB, 1, false, 1, 1), s("json", 1, S3ingest, 1, false, 1, 1), // other keys
	}
	got := Summarize("csv", 1, 1e9, samples)
	if got.DuckDBSeconds != 7 || got.S3ingestSeconds != 4 || got.Ratio != 7.0/4 || got.Pairs != 3 {
		t.Errorf("medians %v / %v, ratio %v over %d pairs; want 7 / 4, 1.75 over 3", got.DuckDBSeconds, got.S3ingestSeconds, got.Ratio, got.Pairs)
	}
	if got.DuckDBRSS != 310 || got.S3ingestRSS != 85 {
		t.Errorf("peak RSS medians %d / %d, want 310 / 85", got.DuckDBRSS, got.S3ingestRSS)
	}
	if want := []float64{2, 2, 1}; len(got.PairRatios) != 3 || got.PairRatios[0] != want[0] || got.PairRatios[2] != want[2] {
		t.Errorf("pair ratios %v, want %v", got.PairRatios, want)
	}
	if got.CPURatio != 7.0/4 {
		t.Errorf("CPU ratio %v, want 1.75", got.CPURatio)
	}
	var b bytes.Buffer
	Markdown(&b, &File{Date: "2026-12-07T00:00:00Z", Rows: 10_000_000, Summaries: []Summary{got, {Workload: "parquet", Cores: 1, Error: "boom | x\nmore"}}})
	for _, want := range []string{"10 M rows", "| CSV → Parquet | 1.00 GB | 1 | 7.00 s | 4.00 s | **1.75×** (2.00, 2.00, 1.00) | 1.75× |", "failed: boom \\| x more |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
