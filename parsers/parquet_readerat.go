package parsers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// maxResumes is how many times a ranged read whose body broke off is
// resumed from where it stopped before the error is returned.
const maxResumes = 2

// errShortBody marks an object whose body ended before its announced size.
var errShortBody = errors.New("object body shorter than its size")

// objectReaderAt is the io.ReaderAt the Parquet engine reads an Object
// through: each ReadAt is one ranged obj.Open(ctx, off, n), resumed from
// where it stopped (up to maxResumes times) if the body breaks off, since
// the object is pinned (the S3 source pins the ETag) and the bytes are the
// same. This is the one path for every Object, whether or not it also
// implements io.ReaderAt: an Object's own ReadAt cannot take a context.
//
// The context is the one of the current call into the reader (open,
// preview, Next), set with setContext, so a cancelled job stops issuing
// requests; a reader that fills the next batch ahead of Next
// (parquet_ahead.go) reads under its own context instead, derived from
// Open's and cancelled by Close. The engine's background fetch of the next
// read-ahead window runs with the context of the Next call that started
// it; if that context ends first, the engine drops the fetch and reads the
// window again under the current one. The engine's column workers read
// concurrently.
//
// objectReaderAt is safe for concurrent use.
type objectReaderAt struct {
	obj  Object
	name string
	size int64
	ctx  atomic.Pointer[context.Context]
	// closed is cancelled by close: it ends the reads still in flight (the
	// engine's background read-ahead, started under an earlier Next's
	// context), so Close never waits for a stalled connection.
	closed context.Context
	close  context.CancelFunc
}

func newObjectReaderAt(obj Object, size int64) *objectReaderAt {
	s := &objectReaderAt{obj: obj, name: obj.Name(), size: size}
	s.closed, s.close = context.WithCancel(context.Background())
	s.setContext(context.Background())
	return s
}

// setContext makes ctx govern the reads that follow.
func (s *objectReaderAt) setContext(ctx context.Context) { s.ctx.Store(&ctx) }

// ReadAt implements io.ReaderAt over the object's bytes [0, size): it reads
// all of p or returns an error (io.EOF when p reaches past the size).
func (s *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("parquet read at negative offset %d", off)
	}
	if off >= s.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := p
	if rest := s.size - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	n, err := s.fetch(want, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// fetch fills p from [off, off+len(p)) with one ranged Open, resumed if the
// body breaks off.
func (s *objectReaderAt) fetch(p []byte, off int64) (int, error) {
	ctx, cancel := context.WithCancel(*s.ctx.Load())
	defer cancel()
	defer context.AfterFunc(s.closed, cancel)()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	for attempt := 0; ; attempt++ {
		m, err := s.fetchRange(ctx, p[n:], off+int64(n))
		n += m
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return n, fmt.Errorf("parquet: reading bytes [%d, %d) of %s: %w", off, off+int64(len(p)), s.name, ctx.Err())
		}
		// A body that broke off after some bytes is resumed from where it
		// stopped.
		if m == 0 || attempt >= maxResumes {
			return n, fmt.Errorf("parquet: reading bytes [%d, %d) of %s: %w", off, off+int64(len(p)), s.name, err)
		}
	}
}

// fetchRange is one ranged read into p; a panic in the Object is an error
// of the object, not of the data.
func (s *objectReaderAt) fetchRange(ctx context.Context, p []byte, off int64) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, fmt.Errorf("panic in %T.Open: %v", s.obj, v)
		}
	}()
	rc, err := s.obj.Open(ctx, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n, err = io.ReadFull(rc, p)
	cerr := rc.Close()
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		// The body ended early: a cut connection (resumed by fetch) or an
		// object shorter than its announced size.
		return n, fmt.Errorf("%w: got %d of %d bytes at offset %d (%w)", errShortBody, n, len(p), off, err)
	case err != nil:
		return n, err
	case cerr != nil && n < len(p):
		return n, cerr
	}
	return n, nil
}
