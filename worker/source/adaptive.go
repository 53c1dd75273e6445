package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// probeGain is how much longer than in parts the probe's second window
// must have taken as one GET (estimated, see adaptiveReader) for the rest
// to be read in parts: parts cost more requests and more work on the
// server, so a tie goes to one GET.
const probeGain = 1.25

// probeMinSaving is the least time that parts must save the caller over
// the rest of the range (the saving per window times the windows left),
// whatever the ratio: below it the comparison is noise.
const probeMinSaving = 20 * time.Millisecond

// adaptiveReader reads a long range [off, end) of an S3-compatible server
// (AWS S3 itself is read in parts, see Client.adaptive) whichever way keeps
// the caller waiting less: one GET streaming the range, or parallel ranged
// GETs (a partReader). A remote service may give each connection less than
// the caller reads, as AWS S3 does (50–100 MB/s), and parts multiply that;
// a server on the same host (MinIO, SeaweedFS) may deliver one stream as
// fast as the parser reads it and answer every ranged GET slowly, so that
// parts only add work. The reader measures rather than guesses:
//
//  1. window A: one GET of the whole range; the caller reads its first w
//     bytes through it (w = PartSize × Concurrency, one round of parts);
//  2. window B: the next w bytes as Concurrency parts in parallel;
//  3. the rest in parts if they save the caller time: if window B as one
//     GET would have taken at least probeGain times as long as it did in
//     parts, and that saving over the rest of the range comes to
//     probeMinSaving at least; else as one GET from there to the end.
//
// What the caller waits for is what counts: the time it spends inside
// Read (for an answer or for bytes; in window A also in Open, for the
// GET's answer). Window B as one GET is estimated as the caller's own
// time in window B (outside Read) plus the time it waited for the GET in
// window A. A caller that pauses in window A (the worker infers a schema
// from the first bytes it reads) does not make the GET look slow, and a
// GET that keeps ahead of its caller keeps the rest, however fast parts
// deliver: they would only add requests and work on both sides. A
// window's time runs from the end of the previous one (window A's from
// Open).
//
// Every GET is pinned like a partReader's parts: to the listed ETag and
// version, else to the ETag of window A's answer; with neither, the whole
// range is that one GET. A single GET whose body breaks off is requested
// again from where it stopped, up to maxPartResumes times with less than w
// bytes read in between. Errors of the parts are the partReader's.
type adaptiveReader struct {
	o        *Object
	actx     context.Context // Open's, cancelled by Close
	cancel   context.CancelFunc
	pin      pin
	off, end int64
	w        int64

	// mu serializes Read and Close's end; a Read waiting for bytes holds
	// it (Close cancels actx first, which wakes the Read).
	mu       sync.Mutex
	stage    fetchStage
	cur      io.ReadCloser // the current GET's body or *partReader; nil between them
	spare    [][]byte      // window B's buffers, for the rest in parts
	pos      int64         // offset of the next byte the caller reads
	winEnd   int64         // end of the current window (end for the rest)
	started  time.Time     // when the current window began
	rateA    float64       // window A's bytes per second
	waited   time.Duration // time the caller spent inside Read in the current window
	waitA    time.Duration // the same in window A
	resumes  int           // breaks of a single GET with less than w bytes between them
	progress int64         // bytes read since the last break
	err      error
	closed   bool
}

// fetchStage is where an adaptiveReader is in its range.
type fetchStage int

const (
	stageProbeGET   fetchStage = iota // window A: one GET
	stageProbeParts                   // window B: parts
	stageRestGET                      // the rest, one GET
	stageRestParts                    // the rest, parts
)

// adaptive reports whether a range of length n is read by an
// adaptiveReader: long enough that the probe's two windows are at most
// half of it, from an S3-compatible server (a custom endpoint). AWS S3
// itself is read in parts from the start: one connection to it delivers
// 50–100 MB/s, so parts always win there, and the probe's first window
// at one connection's speed would only cost time (0.3–0.5 s of a 1 GiB
// object at 300 MB/s, more than half the read of a 128 MiB one).
func (c *Client) adaptive(n int64) bool {
	f := c.fetch
	return c.opt.Endpoint != "" && f.Mode == FetchAdaptive && f.Concurrency > 1 && n >= 4*f.PartSize*int64(f.Concurrency)
}

// openAdaptive starts an adaptive read of [off, off+n) (n known, long
// enough). Window A's GET is made before it returns, so that a missing
// object, a denied read or a changed version fails Open as a single GET
// would.
func (o *Object) openAdaptive(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	f := o.c.fetch
	r := &adaptiveReader{o: o, pin: pin{etag: o.info.ETag, versionID: o.info.VersionID}, off: off, end: off + n,
		w: f.PartSize * int64(f.Concurrency), pos: off, started: time.Now()}
	r.winEnd = off + r.w
	r.actx, r.cancel = context.WithCancel(ctx)
	out, err := o.getOutput(r.actx, off, n, r.pin)
	if err != nil {
		r.cancel()
		return nil, err
	}
	if err := o.checkAnswer(r.pin, off, n, "the range", out); err != nil {
		out.Body.Close()
		r.cancel()
		return nil, err
	}
	if !r.pin.known() {
		r.pin.etag = unquote(aws.ToString(out.ETag))
	}
	if !r.pin.known() {
		// Nothing to pin another GET to: this one reads the whole range.
		r.stage, r.winEnd = stageRestGET, r.end
	}
	r.cur = out.Body
	r.waited = time.Since(r.started) // the caller waited for the answer
	return r, nil
}

// Read reads the range in order from the current window's source.
func (r *adaptiveReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return 0, fmt.Errorf("read %s: %w", r.o.Name(), errReadClosed)
	case r.err != nil:
		return 0, r.err
	case len(b) == 0:
		return 0, nil
	}
	probing := r.stage < stageRestGET
	for r.pos < r.end {
		var t0 time.Time
		if probing {
			t0 = time.Now()
		}
		if r.cur == nil {
			if err := r.open(); err != nil {
				r.err = err
				r.cancel()
				return 0, err
			}
		}
		if lim := r.winEnd - r.pos; int64(len(b)) > lim {
			b = b[:lim]
		}
		n, err := r.cur.Read(b)
		if probing {
			r.waited += time.Since(t0)
		}
		r.pos += int64(n)
		r.progress += int64(n)
		switch {
		case r.pos == r.winEnd:
			r.endWindow() // whole, whatever error the read gave after it
		case err != nil:
			if err = r.broke(err); err != nil {
				r.err = err
				r.cancel()
				if n > 0 {
					return n, nil // the error comes with the next Read
				}
				return 0, err
			}
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, io.EOF
}

// open starts the current stage's source at r.pos: parts up to the
// window's end, or one GET to the range's end.
func (r *adaptiveReader) open() error {
	if r.stage == stageProbeParts || r.stage == stageRestParts {
		pr, err := r.o.openParts(r.actx, r.pin, r.pos, r.winEnd-r.pos, false, r.spare)
		r.spare = nil
		if err != nil {
			return err
		}
		r.cur = pr
		return nil
	}
	out, err := r.o.getOutput(r.actx, r.pos, r.end-r.pos, r.pin)
	if err != nil {
		return err
	}
	if err := r.o.checkAnswer(r.pin, r.pos, r.end-r.pos, "the rest of the range", out); err != nil {
		out.Body.Close()
		return err
	}
	r.cur = out.Body
	return nil
}

// endWindow closes the source of the window just read whole and moves to
// the next stage; at the end of window B it makes the choice (the rest in
// parts gets window B's buffers).
func (r *adaptiveReader) endWindow() {
	if pr, ok := r.cur.(*partReader); ok && r.stage == stageProbeParts {
		r.spare = pr.closeBuffers()
	} else {
		r.cur.Close()
	}
	r.cur = nil
	now := time.Now()
	took := now.Sub(r.started)
	rate := float64(r.w) / max(took.Seconds(), 1e-9)
	waited := r.waited
	r.started, r.waited = now, 0
	switch r.stage {
	case stageProbeGET:
		r.rateA, r.waitA = rate, waited
		r.stage, r.winEnd = stageProbeParts, r.pos+r.w
	case stageProbeParts:
		r.stage, r.winEnd = stageRestGET, r.end
		asGET := took - waited + r.waitA // the caller's own time, and the GET's waits
		windowsLeft := float64(r.end-r.pos) / float64(r.w)
		parts := float64(asGET) >= probeGain*float64(took) && float64(asGET-took)*windowsLeft >= float64(probeMinSaving)
		if parts {
			r.stage = stageRestParts
		} else {
			r.spare = nil
		}
		if f := r.o.c.fetch.Observe; f != nil {
			f(FetchChoice{Object: r.o.Name(), Parts: parts, GETBytesPerSecond: r.rateA, PartsBytesPerSecond: rate,
				GETWait: r.waitA, PartsWait: waited})
		}
	}
}

// broke handles an error of the current source before the window's end:
// a single GET that broke off is requested again from r.pos (nil), unless
// it may not be (no pin, cancelled, broken too often); a partReader's
// error is final (it resumes its own parts).
func (r *adaptiveReader) broke(err error) error {
	_, parts := r.cur.(*partReader)
	r.cur.Close()
	r.cur = nil
	if parts {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // shorter than asked
	}
	if cerr := r.actx.Err(); cerr != nil {
		return fmt.Errorf("read %s: %w", r.o.Name(), cerr)
	}
	if r.progress >= r.w {
		r.resumes = 0
	}
	r.progress = 0
	switch {
	case !r.pin.known():
		return fmt.Errorf("read %s at byte %d: the body broke off (no ETag or version ID to read the same version on from): %w", r.o.Name(), r.pos, err)
	case r.resumes >= maxPartResumes:
		return fmt.Errorf("read %s at byte %d: the body broke off %d times in a row (less than %d bytes between): %w", r.o.Name(), r.pos, r.resumes+1, r.w, err)
	}
	r.resumes++
	return nil
}

// Close stops the read: the current GET's connection is dropped, the
// parts' goroutines are stopped and waited for. It is safe to call from
// another goroutine than Read's (a blocked Read returns an error) and
// more than once.
func (r *adaptiveReader) Close() error {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	return nil
}
