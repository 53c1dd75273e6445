package parsers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Parquet is read through an io.ReaderAt. Against S3 every ReadAt that is
// not served from a cache is exactly one ranged GetObject, so the reader is
// built to issue few, large, bounded requests:
//
//   - the footer is fetched with one request for the last pqTailBytes of the
//     object (a second one only when the footer is larger), and the 4-byte
//     head magic with one tiny request in parallel (none for small objects,
//     whose tail covers the head);
//   - column chunks are read through parquet-go's buffered page readers,
//     one request per ReadBufferSize window;
//   - a row group whose compressed size is small is fetched whole with one
//     request and its columns are served from memory.
const (
	// pqTailBytes is the tail prefetched to find the footer. Footers of
	// files with a few dozen columns and row groups fit.
	pqTailBytes = 64 << 10
	// pqMaxFooterBytes bounds the footer s3ingest accepts (and allocates).
	pqMaxFooterBytes = 256 << 20
	// pqMaxResumes is how many times a ranged read whose body broke off is
	// resumed from where it stopped before the error is returned.
	pqMaxResumes = 2
)

// pqSource adapts an Object to the io.ReaderAt parquet-go reads from.
//
// If the Object implements io.ReaderAt it is used directly; otherwise each
// ReadAt is one obj.Open(ctx, off, n) ranged read. The context is the one
// of the current call into the reader (open, preview, Next), so a cancelled
// job stops issuing requests. The first error of the underlying object
// (network, cancellation, a short body) is remembered: parquet-go wraps
// or rephrases errors, and the reader uses the remembered one to tell a
// failed read (returned as is, retried by the worker) from bad data
// (returned as a *ParseError).
//
// pqSource is safe for concurrent use.
type pqSource struct {
	obj  Object
	name string
	size int64
	ra   io.ReaderAt // obj as an io.ReaderAt, or nil

	ctx atomic.Pointer[context.Context]

	// head and tail cache the first and last bytes of the object, fetched
	// by prefetch. They are immutable once set.
	head    []byte
	tail    []byte
	tailOff int64
	// mem caches one whole row group: [memOff, memOff+len(mem)). It is
	// replaced by the reader between row groups, never during a read.
	memMu  sync.RWMutex
	mem    []byte
	memOff int64

	ioErr    atomic.Pointer[error]
	requests atomic.Int64 // ranged reads issued
	bytes    atomic.Int64 // bytes fetched
}

func newPQSource(obj Object, size int64) *pqSource {
	s := &pqSource{obj: obj, name: obj.Name(), size: size}
	if ra, ok := obj.(io.ReaderAt); ok {
		s.ra = ra
	}
	bg := context.Background()
	s.ctx.Store(&bg)
	return s
}

// setContext makes ctx govern the reads that follow.
func (s *pqSource) setContext(ctx context.Context) { s.ctx.Store(&ctx) }

func (s *pqSource) context() context.Context { return *s.ctx.Load() }

// err returns the first error of the underlying object, or nil.
func (s *pqSource) err() error {
	if p := s.ioErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *pqSource) fail(err error) error {
	s.ioErr.CompareAndSwap(nil, &err)
	return err
}

// ReadAt implements io.ReaderAt over the object's bytes [0, size).
func (s *pqSource) ReadAt(p []byte, off int64) (int, error) {
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
	n, err := s.readAt(want, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// readAt fills p entirely from [off, off+len(p)), which lies inside the
// object.
func (s *pqSource) readAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if len(s.head) > 0 && end <= int64(len(s.head)) {
		return copy(p, s.head[off:end]), nil
	}
	if len(s.tail) > 0 && off >= s.tailOff {
		return copy(p, s.tail[off-s.tailOff:]), nil
	}
	s.memMu.RLock()
	if mem := s.mem; len(mem) > 0 && off >= s.memOff && end <= s.memOff+int64(len(mem)) {
		n := copy(p, mem[off-s.memOff:])
		s.memMu.RUnlock()
		return n, nil
	}
	s.memMu.RUnlock()
	return s.fetch(p, off)
}

// fetch reads p from the object itself: one ReadAt of the object, or one
// ranged Open (resumed up to pqMaxResumes times if the body breaks off).
func (s *pqSource) fetch(p []byte, off int64) (int, error) {
	if err := s.err(); err != nil {
		return 0, err // the object already failed; do not hammer it
	}
	ctx := s.context()
	if err := ctx.Err(); err != nil {
		return 0, s.fail(err)
	}
	s.requests.Add(1)
	if s.ra != nil {
		n, err := s.objectReadAt(p, off)
		s.bytes.Add(int64(n))
		if n == len(p) {
			return n, nil
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, s.fail(fmt.Errorf("parquet: reading bytes [%d, %d) of %s: %w", off, off+int64(len(p)), s.name, err))
	}
	var n int
	for attempt := 0; ; attempt++ {
		m, err := s.fetchRange(ctx, p[n:], off+int64(n))
		n += m
		s.bytes.Add(int64(m))
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return n, s.fail(fmt.Errorf("parquet: reading bytes [%d, %d) of %s: %w", off, off+int64(len(p)), s.name, ctx.Err()))
		}
		// A body that broke off after some bytes is resumed from where it
		// stopped: the object is pinned (ETag), so the bytes are the same.
		if m == 0 || attempt >= pqMaxResumes {
			return n, s.fail(fmt.Errorf("parquet: reading bytes [%d, %d) of %s: %w", off, off+int64(len(p)), s.name, err))
		}
		s.requests.Add(1)
	}
}

var errPQShortBody = errors.New("object body shorter than its size")

// objectReadAt is the object's own ReadAt; a panic in it is an error of the
// object, not of the data.
func (s *pqSource) objectReadAt(p []byte, off int64) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, fmt.Errorf("panic in %T.ReadAt: %v", s.ra, v)
		}
	}()
	return s.ra.ReadAt(p, off)
}

// fetchRange is one ranged read into p.
func (s *pqSource) fetchRange(ctx context.Context, p []byte, off int64) (n int, err error) {
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
		return n, fmt.Errorf("%w: got %d of %d bytes at offset %d (%w)", errPQShortBody, n, len(p), off, err)
	case err != nil:
		return n, err
	case cerr != nil && n < len(p):
		return n, cerr
	}
	return n, nil
}

// prefetch fetches the object's tail (and head magic) in parallel: one
// request each, or a single one when the object is no larger than
// pqTailBytes. It returns the cached tail.
func (s *pqSource) prefetch() error {
	tailLen := min(s.size, pqTailBytes)
	tail := make([]byte, tailLen)
	tailOff := s.size - tailLen
	if tailOff == 0 {
		if _, err := s.fetch(tail, 0); err != nil {
			return err
		}
		s.tail, s.tailOff = tail, 0
		s.head = tail[:min(len(tail), 4)]
		return nil
	}
	head := make([]byte, 4)
	var wg sync.WaitGroup
	var headErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, headErr = s.fetch(head, 0)
	}()
	_, tailErr := s.fetch(tail, tailOff)
	wg.Wait()
	if tailErr != nil {
		return tailErr
	}
	if headErr != nil {
		return headErr
	}
	s.head = head
	s.tail, s.tailOff = tail, tailOff
	return nil
}

// extendTail makes the tail cache start at off (<= tailOff) with one more
// request, so that a footer larger than the prefetched tail is cached too.
func (s *pqSource) extendTail(off int64) error {
	if off >= s.tailOff {
		return nil
	}
	more := make([]byte, s.tailOff-off+int64(len(s.tail)))
	if _, err := s.fetch(more[:s.tailOff-off], off); err != nil {
		return err
	}
	copy(more[s.tailOff-off:], s.tail)
	s.tail, s.tailOff = more, off
	return nil
}

// cacheRange fetches [off, off+n) with one request and serves reads inside
// it from memory until the next call; n == 0 drops the cache.
func (s *pqSource) cacheRange(off, n int64) error {
	var buf []byte
	if n > 0 {
		s.memMu.RLock()
		buf = s.mem
		s.memMu.RUnlock()
		if int64(cap(buf)) >= n {
			buf = buf[:n]
		} else {
			buf = make([]byte, n)
		}
		s.memMu.Lock()
		s.mem = nil // do not serve stale bytes while refilling
		s.memMu.Unlock()
		if _, err := s.readAt(buf, off); err != nil {
			return err
		}
	}
	s.memMu.Lock()
	s.mem, s.memOff = buf, off
	s.memMu.Unlock()
	return nil
}
