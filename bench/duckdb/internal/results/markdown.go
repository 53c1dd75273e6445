package results

import (
	"fmt"
	"io"
	"strings"
)

// Labels are the workloads' names in the table.
var Labels = map[string]string{
	"csv":       "CSV → Parquet",
	"csv.gz":    "gzip CSV → Parquet",
	"ndjson":    "NDJSON → Parquet",
	"json":      "JSON array → Parquet",
	"parquet":   "Parquet → Parquet",
	WorkloadE2E: "CSV, end to end: S3 (SeaweedFS) → ingestd → dataset (DuckDB: local file)",
}

// Markdown writes the README table of f.
func Markdown(w io.Writer, f *File) {
	flags := strings.Join(f.Machine.CPUFlags, " ")
	switch {
	case f.Machine.CPUFlags == nil:
		flags = "vector extensions not recorded"
	case flags == "":
		flags = "no AVX2 or AVX-512"
	}
	fmt.Fprintf(w, "%s rows × 12 columns (seed %d), %d pairs after %d warm-up; %s (%s), %d CPUs; Go %s, DuckDB %s; %s.\n\n",
		count(f.Rows), f.Seed, f.Pairs, f.Warmup, f.Machine.CPU, flags, f.Machine.CPUs, strings.TrimPrefix(f.GoVersion, "go"), f.DuckDBVersion, f.Date[:10])
	fmt.Fprintln(w, "| work | input | cores | DuckDB | s3ingest | DuckDB ÷ s3ingest (per pair) | CPU-time ratio | peak RSS DuckDB / s3ingest |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, s := range f.Summaries {
		label := Labels[s.Workload]
		if label == "" {
			label = s.Workload
		}
		if s.Error != "" {
			fmt.Fprintf(w, "| %s | %s | %d | failed: %s | | | | |\n", label, mb(s.InputBytes), s.Cores, oneLine(s.Error, 300))
			continue
		}
		pr := make([]string, len(s.PairRatios))
		for i, r := range s.PairRatios {
			pr[i] = fmt.Sprintf("%.2f", r)
		}
		cpu := fmt.Sprintf("%.2f×", s.CPURatio)
		if s.CPURatio == 0 {
			cpu = "" // end to end: ingestd's CPU is not per job
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.2f s | %.2f s | **%.2f×** (%s) | %s | %s / %s |\n", label, mb(s.InputBytes), s.Cores,
			s.DuckDBSeconds, s.S3ingestSeconds, s.Ratio, strings.Join(pr, ", "), cpu, mb(s.DuckDBRSS), mb(s.S3ingestRSS))
	}
	var diffs []string
	seen := map[string]bool{}
	for _, s := range f.Summaries {
		if len(s.TypeDiffs) > 0 && !seen[s.Workload] {
			seen[s.Workload] = true
			diffs = append(diffs, fmt.Sprintf("%s: %s", s.Workload, strings.Join(s.TypeDiffs, ", ")))
		}
	}
	if len(diffs) > 0 {
		fmt.Fprintf(w, "\nOutput types that differ (DuckDB vs s3ingest): %s.\n", strings.Join(diffs, "; "))
	}
	for _, n := range f.Notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

func mb(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	default:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
}

func count(n int64) string {
	switch {
	case n >= 1e6 && n%1e5 == 0:
		return fmt.Sprintf("%g M", float64(n)/1e6)
	case n >= 1e3 && n%100 == 0:
		return fmt.Sprintf("%g k", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// oneLine makes an error fit a table cell: lines joined, pipes escaped,
// at most max bytes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}
