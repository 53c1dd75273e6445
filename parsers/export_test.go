package parsers

import "context"

// Test helpers of package parsers exported to its external tests (package
// parsers_test, which the conformance harness parserstest requires, since
// parserstest imports parsers).

// ParquetConfRow is a row of the Parquet conformance cases.
type ParquetConfRow = pqConfRow

// ParquetConfRows returns n rows of the Parquet conformance cases.
var ParquetConfRows = pqConfRows

// OpenSequential is Open without the pipeline: one parser in the caller's
// goroutine, the reader parallel parsing must read the same as.
func OpenSequential(ctx context.Context, obj Object, opts Options) (Reader, error) {
	r, err := Open(ctx, obj, opts)
	if tr, ok := r.(*reader); ok {
		tr.pipelined = false
	}
	return r, err
}

// PipelineStats returns, after a pipelined reader has read to the end or
// failed, its workers, the chunks it cut and the times one parser took
// over the rest of the stream.
func PipelineStats(r Reader) (workers, chunks, fallbacks int) {
	tr, ok := r.(*reader)
	if !ok || tr.pipe == nil {
		return 0, 0, 0
	}
	return tr.pipe.workers, tr.pipe.sent, tr.pipe.fallbacks
}
