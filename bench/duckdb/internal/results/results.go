// Package results holds the benchmark's results file (results.json): the
// machine, the versions, the data, every sample and the medians and
// ratios derived from them, and renders the README table.
package results

import (
	"slices"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/gen"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/proc"
	"github.com/s3ingest/s3ingest/bench/duckdb/internal/verify"
)

// Implementations compared.
const (
	DuckDB   = "duckdb"
	S3ingest = "s3ingest"
)

// WorkloadE2E is the end-to-end workload: the CSV in S3 (SeaweedFS) read
// by ingestd into a FileSink dataset; DuckDB reads the same file from
// local disk.
const WorkloadE2E = "csv-s3-ingestd"

// Sample is one measured run.
type Sample struct {
	Workload string `json:"workload"`
	Cores    int    `json:"cores"`
	Impl     string `json:"impl"`
	// Pair numbers the pairs from 1; warm-up pairs (Warmup) are not in
	// the medians.
	Pair   int  `json:"pair"`
	Warmup bool `json:"warmup,omitempty"`
	proc.Result
	// Output is what DuckDB read back from the run's output.
	Output verify.Stats `json:"output"`
}

// Summary is one (workload, cores) comparison over the measured pairs.
type Summary struct {
	Workload   string `json:"workload"`
	Cores      int    `json:"cores"`
	InputBytes int64  `json:"input_bytes"`
	Pairs      int    `json:"pairs"`
	// Median wall seconds and peak RSS of each implementation.
	DuckDBSeconds   float64 `json:"duckdb_seconds"`
	S3ingestSeconds float64 `json:"s3ingest_seconds"`
	DuckDBRSS       int64   `json:"duckdb_peak_rss_bytes"`
	S3ingestRSS     int64   `json:"s3ingest_peak_rss_bytes"`
	// Ratio is DuckDB's median time ÷ s3ingest's: above 1, s3ingest is
	// faster. PairRatios are the same per pair (the spread).
	Ratio      float64   `json:"ratio"`
	PairRatios []float64 `json:"pair_ratios"`
	// Median CPU seconds (user + system) of each implementation, and
	// their ratio (DuckDB ÷ s3ingest): steadier than wall time on a
	// shared machine.
	DuckDBCPU   float64 `json:"duckdb_cpu_seconds"`
	S3ingestCPU float64 `json:"s3ingest_cpu_seconds"`
	CPURatio    float64 `json:"cpu_ratio"`
	// TypeDiffs lists output columns whose types differ between the two.
	TypeDiffs []string `json:"type_diffs,omitempty"`
	// Error is why the workload has no result (a run failed or its
	// output was wrong); the other workloads still ran.
	Error string `json:"error,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU      string `json:"cpu"`
	CPUs     int    `json:"cpus"`
	MemBytes int64  `json:"mem_bytes"`
	Kernel   string `json:"kernel"`
	LoadAvg  string `json:"loadavg_at_start"`
	// CPUFlags are the vector extensions the CPU has, of avx2, avx512f,
	// avx512bw and avx512vl (the ratios depend on them).
	CPUFlags []string `json:"cpu_flags"` // null: not read
}

// File is results.json.
type File struct {
	Date          string           `json:"date"`
	Command       string           `json:"command"`
	Machine       Machine          `json:"machine"`
	GoVersion     string           `json:"go_version"`
	DuckDBVersion string           `json:"duckdb_version"`
	Commit        string           `json:"commit,omitempty"`
	Rows          int64            `json:"rows"`
	Seed          uint64           `json:"seed"`
	Pairs         int              `json:"pairs"`
	Warmup        int              `json:"warmup_pairs"`
	InputBytes    map[string]int64 `json:"input_bytes"`
	Truth         gen.Truth        `json:"truth"`
	Summaries     []Summary        `json:"summaries"`
	Samples       []Sample         `json:"samples"`
	Notes         []string         `json:"notes,omitempty"`
}

// Median returns the median of xs (the mean of the middle two for an
// even count); 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Summarize computes the summary of one (workload, cores) from samples
// (warm-ups ignored).
func Summarize(workload string, cores int, inputBytes int64, samples []Sample) Summary {
	s := Summary{Workload: workload, Cores: cores, InputBytes: inputBytes}
	var dt, st, dr, sr, dc, sc []float64
	byPair := map[int][2]float64{}
	var dcols, scols []verify.Column
	for _, x := range samples {
		if x.Workload != workload || x.Cores != cores || x.Warmup {
			continue
		}
		p := byPair[x.Pair]
		switch x.Impl {
		case DuckDB:
			dt, dr = append(dt, x.WallSeconds), append(dr, float64(x.PeakRSSBytes))
			dc = append(dc, x.UserSeconds+x.SystemSeconds)
			p[0] = x.WallSeconds
			dcols = x.Output.Columns
		case S3ingest:
			st, sr = append(st, x.WallSeconds), append(sr, float64(x.PeakRSSBytes))
			sc = append(sc, x.UserSeconds+x.SystemSeconds)
			p[1] = x.WallSeconds
			scols = x.Output.Columns
		}
		byPair[x.Pair] = p
	}
	s.DuckDBSeconds, s.S3ingestSeconds = Median(dt), Median(st)
	s.DuckDBRSS, s.S3ingestRSS = int64(Median(dr)), int64(Median(sr))
	if s.S3ingestSeconds > 0 {
		s.Ratio = s.DuckDBSeconds / s.S3ingestSeconds
	}
	s.DuckDBCPU, s.S3ingestCPU = Median(dc), Median(sc)
	if s.S3ingestCPU > 0 {
		s.CPURatio = s.DuckDBCPU / s.S3ingestCPU
	}
	pairs := make([]int, 0, len(byPair))
	for k := range byPair {
		pairs = append(pairs, k)
	}
	slices.Sort(pairs)
	for _, k := range pairs {
		if p := byPair[k]; p[0] > 0 && p[1] > 0 {
			s.PairRatios = append(s.PairRatios, p[0]/p[1])
		}
	}
	s.Pairs = len(s.PairRatios)
	s.TypeDiffs = verify.TypeDiffs(dcols, scols)
	return s
}
