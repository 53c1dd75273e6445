package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// partReader is the stream of a parallel read of [off, end): the range is
// cut into parts of partSize bytes, fetched by ranged GETs pinned to one
// version of the object, at most len(slots) at once, and read back in
// order.
//
// Part i lives in slots[i%len(slots)]. The parts of the first len(slots)
// slots start when the read opens; part i+len(slots) starts in the slot of
// part i (reusing its buffer) once the caller has read part i whole. The
// caller reads a part while it downloads, so every slot downloads while the
// caller keeps up, and no part is more than len(slots)-1 parts ahead of
// the caller: memory is len(slots) × partSize.
//
// Each part is one goroutine (owned by the reader, counted in wg) that
// issues its GET and copies the body into the part's buffer. A body that
// breaks off is requested again from where it stopped (maxPartResumes
// times per part). The first error of any part is the reader's error: it
// cancels the other parts. Close cancels every part and waits for their
// goroutines.
type partReader struct {
	o        *Object
	pin      pin
	pctx     context.Context // the parts' context: Open's, cancelled by Close or the first error
	cancel   context.CancelFunc
	off, end int64
	partSize int64
	nparts   int
	wg       sync.WaitGroup

	// mu serializes Read and the end of Close; a Read waiting for bytes
	// holds it (Close cancels first, which wakes the Read).
	mu     sync.Mutex
	slots  []*part
	cur    int // the part being read
	pos    int // read position in it
	err    error
	closed bool
}

// pin is the version every part is read from.
type pin struct {
	etag      string // unquoted; "" if unknown
	versionID string
}

// known reports whether p names a version (an ETag or a version ID).
func (p pin) known() bool { return p.etag != "" || p.versionID != "" }

// part is one ranged GET's bytes: the goroutine fetching it writes
// buf[filled:] and then publishes the new filled under mu; the reader
// reads buf[:filled] only.
type part struct {
	idx    int
	off    int64 // absolute offset of buf[0] in the object
	buf    []byte
	notify chan struct{} // capacity 1: progress or an error since the last look

	mu     sync.Mutex
	filled int
	err    error
}

// state returns how many bytes are ready and the part's error.
func (p *part) state() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.filled, p.err
}

func (p *part) publish(filled int, err error) {
	p.mu.Lock()
	p.filled = filled
	if err != nil && p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// openParts starts a parallel read of [off, off+n) (n > 0, known) pinned
// to p (when p is empty, to the first part's ETag). The first part's GET
// is made before it returns, so that a missing object, a denied read or a
// changed version fails Open as a single GET would; with p known and
// !await (a read that has already reached the object), every part starts
// at once and errors come with Read. The parts fill bufs where they are
// large enough (the buffers of an earlier read; may be nil).
func (o *Object) openParts(ctx context.Context, p pin, off, n int64, await bool, bufs [][]byte) (*partReader, error) {
	f := o.c.fetch
	r := &partReader{o: o, pin: p, off: off, end: off + n, partSize: f.PartSize}
	r.nparts = int((n + f.PartSize - 1) / f.PartSize)
	r.slots = make([]*part, min(f.Concurrency, r.nparts))
	r.pctx, r.cancel = context.WithCancel(ctx)
	buf := func(i int) []byte {
		if i < len(bufs) {
			return bufs[i]
		}
		return nil
	}
	if !await && p.known() {
		for i := range r.slots {
			r.start(r.newPart(i, buf(i)), nil)
		}
		return r, nil
	}

	first := r.newPart(0, buf(0))
	out, err := o.getOutput(r.pctx, first.off, int64(len(first.buf)), r.pin)
	if err != nil {
		r.cancel()
		return nil, err
	}
	if !r.pin.known() {
		// Pin the rest to the version the first part came from.
		r.pin.etag = unquote(aws.ToString(out.ETag))
		if r.pin.etag == "" {
			// Nothing to pin the parts to: read the range with one GET
			// rather than risk mixing versions.
			out.Body.Close()
			r.cancel()
			return nil, errNoPin
		}
	}
	if err := r.check(first, out); err != nil {
		out.Body.Close()
		r.cancel()
		return nil, err
	}
	r.start(first, out.Body)
	for i := 1; i < len(r.slots); i++ {
		r.start(r.newPart(i, buf(i)), nil)
	}
	return r, nil
}

// errNoPin is openParts' answer when neither the listing nor the first
// part's answer names a version to pin the parts to: the caller reads the
// range with one GET rather than risk mixing versions.
var errNoPin = errors.New("no ETag or version ID to pin parts to")

// newPart returns part i, in buf's memory if it is large enough.
func (r *partReader) newPart(i int, buf []byte) *part {
	off := r.off + int64(i)*r.partSize
	n := int(min(r.partSize, r.end-off))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	p := &part{idx: i, off: off, buf: buf[:n], notify: make(chan struct{}, 1)}
	r.slots[i%len(r.slots)] = p
	return p
}

// start runs the goroutine that fetches p (body: the first attempt's
// response body, already requested, or nil).
func (r *partReader) start(p *part, body io.ReadCloser) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.fetch(p, body)
	}()
}

// fetch fills p's buffer from body (or a new GET), requesting the rest
// again if the body breaks off. Errors are published to the part.
func (r *partReader) fetch(p *part, body io.ReadCloser) {
	filled, resumes := 0, 0
	for {
		if body == nil {
			out, err := r.o.getOutput(r.pctx, p.off+int64(filled), int64(len(p.buf)-filled), r.pin)
			if err == nil {
				err = r.check(&part{idx: p.idx, off: p.off + int64(filled), buf: p.buf[filled:]}, out)
				if err != nil {
					out.Body.Close()
				}
			}
			if err != nil {
				p.publish(filled, err)
				return
			}
			body = out.Body
		}
		var err error
		filled, err = r.copyBody(p, filled, body)
		body.Close()
		body = nil
		if err == nil {
			p.publish(filled, nil)
			return
		}
		if cerr := r.pctx.Err(); cerr != nil {
			p.publish(filled, fmt.Errorf("read %s: %w", r.o.Name(), cerr))
			return
		}
		if resumes >= maxPartResumes {
			p.publish(filled, fmt.Errorf("read %s bytes [%d, %d) (part %d of %d; the body broke off on each of %d attempts): %w",
				r.o.Name(), p.off, p.off+int64(len(p.buf)), p.idx+1, r.nparts, resumes+1, err))
			return
		}
		resumes++
	}
}

// copyBody reads body into p.buf[filled:], publishing progress after each
// read but the last; it returns the new fill and nil once the part is
// full. The caller publishes the last fill after closing the body, so a
// part's connection is released before the reader can start the part that
// takes its slot: at most len(slots) GETs are ever open.
func (r *partReader) copyBody(p *part, filled int, body io.Reader) (int, error) {
	for filled < len(p.buf) {
		m, err := body.Read(p.buf[filled:])
		filled += m
		if m > 0 && filled < len(p.buf) {
			p.publish(filled, nil)
		}
		if filled == len(p.buf) {
			break // whole, whatever error the read gave after it
		}
		switch {
		case err == io.EOF:
			return filled, io.ErrUnexpectedEOF
		case err != nil:
			return filled, err
		}
	}
	// Read the end of the body, so that the connection goes back to the
	// pool rather than being closed.
	// (More bytes than asked, or a failure after the part, leave the part
	// whole.)
	var one [1]byte
	_, _ = body.Read(one[:])
	return filled, nil
}

// check verifies that a response holds p's bytes of the pinned version
// (see Object.checkAnswer).
func (r *partReader) check(p *part, out *s3.GetObjectOutput) error {
	return r.o.checkAnswer(r.pin, p.off, int64(len(p.buf)), fmt.Sprintf("part %d of %d", p.idx+1, r.nparts), out)
}

// Read reads the parts in order.
func (r *partReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("read %s: %w", r.o.Name(), errReadClosed)
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if r.cur >= r.nparts {
			return 0, io.EOF
		}
		p := r.slots[r.cur%len(r.slots)]
		filled, err := p.state()
		if r.pos < filled {
			n := copy(b, p.buf[r.pos:filled])
			r.pos += n
			if r.pos == len(p.buf) {
				r.advance(p)
			}
			return n, nil
		}
		if err != nil {
			r.err = err
			r.cancel()
			return 0, err
		}
		select {
		case <-p.notify:
		case <-r.pctx.Done():
			// Cancelled (Close, or the caller's context): the part's
			// goroutine stops and publishes why; wait for that.
			if _, err := p.state(); err == nil {
				<-p.notify
			}
		}
	}
}

// advance moves to the next part and starts the one that takes the
// finished part's slot and buffer.
func (r *partReader) advance(done *part) {
	r.cur++
	r.pos = 0
	if next := done.idx + len(r.slots); next < r.nparts {
		r.start(r.newPart(next, done.buf), nil)
	}
}

// errReadClosed is returned by Read after Close.
var errReadClosed = errors.New("read after Close")

// Close stops every part's goroutine and waits for them; the buffers are
// released. It is safe to call from another goroutine than Read's (a
// blocked Read returns an error) and more than once.
func (r *partReader) Close() error {
	r.closeBuffers()
	return nil
}

// closeBuffers is Close, returning the parts' buffers for another read to
// reuse (none after the first call): no goroutine of r touches them any
// more.
func (r *partReader) closeBuffers() [][]byte {
	r.cancel()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var bufs [][]byte
	for _, p := range r.slots {
		if p != nil {
			bufs = append(bufs, p.buf[:cap(p.buf)])
		}
	}
	r.slots = nil
	return bufs
}
