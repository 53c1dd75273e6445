// Package e2e holds process-level tests of ingestd: the real binary, built
// once per test binary with `go build ./cmd/ingestd`, runs as child
// processes against real redis-server, SeaweedFS (S3) and PostgreSQL
// instances started by internal/testenv. The tests kill those processes with
// SIGKILL at chosen points of an ingest, restart them, and check what an
// operator relies on: exact rows (nothing lost, nothing twice), no
// temporary files left behind, a task that records its retry, several
// replicas sharing one Redis, and how long recovery takes.
//
// Run them through the project's test command, which provides the servers:
//
//	bash scripts/test.sh ./internal/e2e/ -v
//
// The package's only non-test code is PeakRSS, which reads a process's peak
// resident memory from /proc for memory tests of the real binary.
package e2e
