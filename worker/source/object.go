package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrChanged marks a read of an object that no longer is the version that
// was listed (S3 answered 412 Precondition Failed to If-Match). The object
// must be listed again; test with errors.Is.
var ErrChanged = errors.New("object changed since it was listed")

// Object is one object version, read with ranged GetObject requests pinned
// to its ETag (If-Match) and, if known, its version ID. It has the method
// set of parsers.Object plus io.ReaderAt.
//
// Open takes a context per call. ReadAt cannot, so it uses the context the
// Object was created with (Client.Object), or the one bound by WithContext:
// create Objects with the task's context so that cancellation reaches
// Parquet's ranged reads.
type Object struct {
	c    *Client
	info ObjectInfo
	ctx  context.Context
}

// Object returns the object described by info (usually from List or
// Head); ReadAt calls use ctx. Size must be known for ReadAt to report
// io.EOF at the end; set it to -1 if it is not. No request is made.
func (c *Client) Object(ctx context.Context, info ObjectInfo) *Object {
	return &Object{c: c, info: info, ctx: ctx}
}

// WithContext returns a shallow copy of o whose ReadAt uses ctx.
func (o *Object) WithContext(ctx context.Context) *Object {
	o2 := *o
	o2.ctx = ctx
	return &o2
}

// Info returns the object's identity.
func (o *Object) Info() ObjectInfo { return o.info }

// Name returns "s3://bucket/key".
func (o *Object) Name() string { return o.info.URL() }

// Size returns the object's size in bytes (-1 if unknown).
func (o *Object) Size() int64 { return o.info.Size }

// Open streams the bytes [off, off+n) of the object; n < 0 means to the
// end. The body streams from S3 and must be closed by the caller; errors
// while reading it are wrapped with the object's name. A range starting at
// or after the end of a known size yields an empty stream without a
// request.
//
// A range longer than two parts of an object of known size (Options.Fetch) is
// fetched as parallel ranged GETs, every one pinned to the listed version
// (If-Match on the ETag, and the version ID if known; without either, to
// the ETag of the first part's answer) and read back in order; a part whose
// body breaks off is requested again from where it stopped. If the object
// is replaced during the read, the parts requested after that fail with
// ErrChanged (transient: the next attempt lists the object again and reads
// the new version whole): no stream ever mixes two versions. A range of
// at least four rounds of parts (4 × PartSize × Concurrency, 128 MiB at
// the defaults) of an S3-compatible server (a custom endpoint; AWS S3 is
// read in parts) is read adaptively unless FetchOptions.Mode is FetchParts:
// its first round through one GET, its second in parts, and the rest the
// way that kept the caller waiting less (see FetchMode), pinned alike, a
// single GET that breaks off resumed from where it stopped. Shorter
// ranges are one GET, whose body is not resumed (callers that read into a
// buffer resume, as the parsers' Parquet reader does).
//
// Close stops the read's goroutines and waits for them; cancelling ctx
// stops them too.
func (o *Object) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("open %s: negative offset %d", o.Name(), off)
	}
	if n == 0 || (o.info.Size >= 0 && off >= o.info.Size) {
		return io.NopCloser(eofReader{}), nil
	}
	length := n
	if o.info.Size >= 0 && (n < 0 || n > o.info.Size-off) {
		length = o.info.Size - off
	}
	// Parts need the object's size: with it unknown, a range past the end
	// would fail instead of streaming short as one GET does.
	if o.info.Size >= 0 && length > 0 {
		switch {
		case o.c.adaptive(length):
			return o.openAdaptive(ctx, off, length)
		case o.c.fetch.parallel(length):
			r, err := o.openParts(ctx, pin{etag: o.info.ETag, versionID: o.info.VersionID}, off, length, true, nil)
			if errors.Is(err, errNoPin) {
				return o.single(ctx, off, n)
			}
			if err != nil {
				return nil, err
			}
			return r, nil
		}
	}
	return o.single(ctx, off, n)
}

// single streams [off, off+n) with one GET.
func (o *Object) single(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	body, err := o.get(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return &body2{rc: body, name: o.Name()}, nil
}

// get issues one GetObject for [off, off+n) pinned to the listed version.
func (o *Object) get(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	out, err := o.getOutput(ctx, off, n, pin{etag: o.info.ETag, versionID: o.info.VersionID})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// getOutput issues one GetObject for [off, off+n) (n < 0: to the end)
// pinned to p.
func (o *Object) getOutput(ctx context.Context, off, n int64, p pin) (*s3.GetObjectOutput, error) {
	region, err := o.c.regionOpt(ctx, "GetObject", o.info.Bucket, o.info.Key)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(o.info.Bucket), Key: aws.String(o.info.Key)}
	if p.versionID != "" {
		in.VersionId = aws.String(p.versionID)
	}
	if p.etag != "" {
		in.IfMatch = aws.String(quote(p.etag))
	}
	if off > 0 || n >= 0 {
		r := "bytes=" + strconv.FormatInt(off, 10) + "-"
		if n >= 0 {
			r += strconv.FormatInt(off+n-1, 10)
		}
		in.Range = aws.String(r)
	}
	out, err := o.c.s3.GetObject(ctx, in, region)
	if err != nil {
		if errorCode(err) == "PreconditionFailed" {
			err = fmt.Errorf("%w (listed with ETag %s): %w", ErrChanged, p.etag, err)
		}
		return nil, o.c.wrap("GetObject", o.info.Bucket, o.info.Key, o.info.VersionID, err)
	}
	return out, nil
}

// checkAnswer verifies that a ranged GET's answer holds the bytes [off,
// off+n) of the pinned version: the ETag (a server that ignores If-Match
// is caught here) and the Content-Range (its start, and the object's size
// as listed; a range of the whole object may come without one, as a 200
// of the listed length). what names the bytes in errors ("part 3 of 12").
func (o *Object) checkAnswer(p pin, off, n int64, what string, out *s3.GetObjectOutput) error {
	if got := unquote(aws.ToString(out.ETag)); p.etag != "" && got != "" && got != p.etag {
		return o.c.opError("GetObject", o.info.Bucket, o.info.Key, o.info.VersionID,
			fmt.Errorf("%w: listed with ETag %s, %s came with ETag %s", ErrChanged, p.etag, what, got))
	}
	cr := aws.ToString(out.ContentRange)
	start, _, total, ok := parseContentRange(cr)
	switch {
	case !ok && cr == "" && off == 0 && n == o.info.Size && aws.ToInt64(out.ContentLength) == n:
		return nil // the whole object, answered whole
	case !ok:
		return fmt.Errorf("GetObject %s: asked for bytes %d-%d, the answer has Content-Range %q", o.Name(), off, off+n-1, cr)
	case start != off:
		return fmt.Errorf("GetObject %s: asked for bytes %d-%d, got Content-Range %q", o.Name(), off, off+n-1, cr)
	case total >= 0 && o.info.Size >= 0 && total != o.info.Size:
		return o.c.opError("GetObject", o.info.Bucket, o.info.Key, o.info.VersionID,
			fmt.Errorf("%w: listed with %d bytes, now %d", ErrChanged, o.info.Size, total))
	}
	return nil
}

// parseContentRange parses "bytes start-end/total" (total -1 for "*").
func parseContentRange(s string) (start, end, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	total = -1
	if tot != "*" {
		total, err3 = strconv.ParseInt(tot, 10, 64)
	}
	return start, end, total, err1 == nil && err2 == nil && err3 == nil
}

// ReadAt reads len(p) bytes at off with one ranged GetObject (If-Match on
// the ETag), using the Object's context (see Object and WithContext). It returns io.EOF
// when the read reaches past the end of the object.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", o.Name(), off)
	}
	want := int64(len(p))
	if o.info.Size >= 0 {
		if off >= o.info.Size {
			return 0, io.EOF
		}
		want = min(want, o.info.Size-off)
	}
	body, err := o.get(o.ctx, off, want)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	switch {
	case err == nil && int64(n) < int64(len(p)):
		return n, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if o.info.Size >= 0 {
			// Shorter than the listed size: the server cut the response.
			return n, fmt.Errorf("read %s at %d: %w", o.Name(), off, io.ErrUnexpectedEOF)
		}
		return n, io.EOF
	case err != nil:
		return n, fmt.Errorf("read %s at %d: %w", o.Name(), off, err)
	}
	return n, nil
}

// body2 wraps a GetObject body so that read errors name the object.
type body2 struct {
	rc   io.ReadCloser
	name string
}

func (b *body2) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read %s: %w", b.name, err)
	}
	return n, err
}

func (b *body2) Close() error { return b.rc.Close() }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
