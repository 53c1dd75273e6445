// Package e2e measures the end-to-end path of the benchmark against DuckDB:
// the generated CSV in S3 (SeaweedFS, started by the main module's
// internal/testenv), an ingest job enqueued through the jobs package with
// a sealed credential (as internal/demo and the platform do), ingestd as
// a child process pinned to the benchmark's cores writing a FileSink
// dataset, and DuckDB converting the same file from local disk, paired
// and alternated. TestEndToEnd is run by cmd/bench (-e2e), which passes
// the binaries and the data; on its own it skips.
package e2e
