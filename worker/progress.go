package worker

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/s3ingest/s3ingest/parsers"
)

// countingObject counts the bytes read through an object's streams into n
// (the run's bytes read, for progress inside objects).
type countingObject struct {
	parsers.Object
	n *atomic.Int64
}

// Open opens the object's range and counts what is read from it.
func (o *countingObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rc, err := o.Object.Open(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, n: o.n}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}
