package parquet

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// The file is read through an io.ReaderAt. Against S3 every ReadAt that is
// not served from a cache is exactly one ranged GetObject, so the engine is
// built to issue few, large, bounded reads:
//
//   - the footer is fetched with one read of the last TailBytes of the file
//     (a second one only when the footer is larger), and the 4-byte head
//     magic with one tiny read in parallel (none for small files, whose
//     tail covers the head);
//   - column chunks are read through parquet-go's buffered page readers,
//     one read per ReadBufferSize window;
//   - a row group whose compressed size is small is fetched whole with one
//     read, together with the small row groups that follow it (one
//     read-ahead window, see readahead.go), and its columns are served
//     from memory.
const (
	// TailBytes is the tail prefetched to find the footer. Footers of
	// files with a few dozen columns and row groups fit.
	TailBytes = 64 << 10
	// maxFooterBytes bounds the footer s3ingest accepts (and allocates).
	maxFooterBytes = 256 << 20
)

// source is the io.ReaderAt parquet-go reads from: the caller's
// io.ReaderAt behind caches of the file's head, tail and current row group.
//
// The first error of the underlying io.ReaderAt (network, cancellation, a
// short read) is remembered: parquet-go wraps or rephrases errors, and the
// Reader uses the remembered one to tell a failed read (returned as is)
// from bad data (returned as an *Error). After it, source issues no more
// reads.
//
// source is safe for concurrent use.
type source struct {
	ra   io.ReaderAt
	size int64

	// head and tail cache the first and last bytes of the file, fetched
	// by prefetch. They are immutable once set.
	head    []byte
	tail    []byte
	tailOff int64
	// mem caches one read-ahead window of whole row groups:
	// [memOff, memOff+len(mem)). It is replaced by the reader between row
	// groups, never during a read.
	memMu  sync.RWMutex
	mem    []byte
	memOff int64
	// ahead is the next window, fetched in the background while mem is
	// read (see readahead.go); spare is a window buffer to reuse. Both are
	// used by the reader's goroutine only.
	ahead *aheadFetch
	spare []byte

	ioErr atomic.Pointer[error]
}

func newSource(ra io.ReaderAt, size int64) *source {
	return &source{ra: ra, size: size}
}

// err returns the first error of the underlying io.ReaderAt, or nil.
func (s *source) err() error {
	if p := s.ioErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *source) fail(err error) error {
	s.ioErr.CompareAndSwap(nil, &err)
	return err
}

// ReadAt implements io.ReaderAt over the file's bytes [0, size).
func (s *source) ReadAt(p []byte, off int64) (int, error) {
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
// file.
func (s *source) readAt(p []byte, off int64) (int, error) {
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

// fetch reads p from the underlying io.ReaderAt with one ReadAt. A short
// read is an error (the file is shorter than its size), and so is a panic
// of the io.ReaderAt.
func (s *source) fetch(p []byte, off int64) (int, error) {
	if err := s.err(); err != nil {
		return 0, err // the file already failed; do not hammer it
	}
	n, err := s.readAtRecover(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("reading bytes [%d, %d): %w", off, off+int64(len(p)), io.ErrUnexpectedEOF)
	}
	return n, s.fail(err)
}

// readAtRecover is the underlying ReadAt; a panic in it is an error of the
// io.ReaderAt, not of the data.
func (s *source) readAtRecover(p []byte, off int64) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, fmt.Errorf("panic in %T.ReadAt: %v", s.ra, v)
		}
	}()
	return s.ra.ReadAt(p, off)
}

// prefetch fetches the file's tail (and head magic) in parallel: one
// read each, or a single one when the file is no larger than TailBytes.
func (s *source) prefetch() error {
	tailLen := min(s.size, TailBytes)
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
// read, so that a footer larger than the prefetched tail is cached too.
func (s *source) extendTail(off int64) error {
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

// cached reports whether [off, end) is inside the cached range.
func (s *source) cached(off, end int64) bool {
	s.memMu.RLock()
	defer s.memMu.RUnlock()
	return len(s.mem) > 0 && off >= s.memOff && end <= s.memOff+int64(len(s.mem))
}

// cacheRange fetches [off, off+n) with one read and serves reads inside
// it from memory until the next call; n == 0 drops the cache.
func (s *source) cacheRange(off, n int64) error {
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

// aheadFetch is a window being fetched in the background.
type aheadFetch struct {
	off  int64
	buf  []byte
	done chan struct{} // closed when the fetch has ended
	err  error         // set before done is closed
}

// fetchAhead starts fetching [off, off+n) in a goroutine that ends with the
// fetch, unless one is under way or a read of the source already failed.
// Its error is not the source's: the reader fetches the window again
// itself (useAhead), and a failure of that fetch is the one it reports.
func (s *source) fetchAhead(off, n int64) {
	if s.ahead != nil || n <= 0 || s.err() != nil {
		return
	}
	buf := s.spare
	s.spare = nil
	if int64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	a := &aheadFetch{off: off, buf: buf, done: make(chan struct{})}
	s.ahead = a
	go func() {
		defer close(a.done)
		m, err := s.readAtRecover(a.buf, off)
		switch {
		case m == len(a.buf):
			err = nil
		case err == nil:
			err = io.ErrUnexpectedEOF
		}
		a.err = err
	}()
}

// useAhead waits for the background fetch and, if it fetched [off, off+n),
// makes it the cached window; it reports whether it did.
func (s *source) useAhead(off, n int64) bool {
	a := s.ahead
	if a == nil {
		return false
	}
	<-a.done
	s.ahead = nil
	if a.err != nil || a.off != off || int64(len(a.buf)) != n {
		s.spare = a.buf
		return false
	}
	s.memMu.Lock()
	s.spare, s.mem, s.memOff = s.mem, a.buf, off
	s.memMu.Unlock()
	return true
}

// stopAhead waits for the background fetch, if any, and drops it.
func (s *source) stopAhead() {
	if a := s.ahead; a != nil {
		<-a.done
		s.ahead = nil
	}
	s.spare = nil
}
