package source_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/worker/source"
)

// part is the part size of these tests (the smallest allowed), so that
// objects of many parts stay small.
const part = source.MinPartSize

// freshHTTP returns an HTTP client with its own connection pool, large
// enough to keep every parallel connection, so that connection counts at a
// proxy are the client's own.
func freshHTTP(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func headObj(t *testing.T, c *source.Client, bucket, key string) *source.Object {
	t.Helper()
	info, err := c.Head(ctxT(t), bucket, key, "")
	if err != nil {
		t.Fatal(err)
	}
	return c.Object(ctxT(t), info)
}

func readRange(ctx context.Context, o *source.Object, off, n int64) ([]byte, error) {
	rc, err := o.Open(ctx, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// gets returns the GETs of key recorded by a proxy.
func gets(t *testing.T, reqs []testenv.RecordedRequest, key string) []testenv.RecordedRequest {
	t.Helper()
	var out []testenv.RecordedRequest
	for _, r := range reqs {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/"+key) {
			out = append(out, r)
		}
	}
	return out
}

func TestParallelReadReturnsExactBytes(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	var mu sync.Mutex
	ifMatch := map[string]int{} // key -> GETs without If-Match
	ep := srv.FaultProxy(t, func(r *http.Request) (int, bool) {
		if r.Method == http.MethodGet && r.Header.Get("If-Match") == "" {
			mu.Lock()
			ifMatch[r.URL.Path]++
			mu.Unlock()
		}
		return 0, false
	})
	c := client(srv, ep, source.Options{Fetch: source.FetchOptions{PartSize: part, Concurrency: 3, Mode: source.FetchParts}})
	ctx := ctxT(t)

	sizes := []int{0, 1, part - 1, part, part + 1, 2 * part, 2*part + 1, 3*part - 1, 3 * part, 3*part + 1, 7*part + 17, 20 * part}
	for _, size := range sizes {
		key := fmt.Sprintf("size-%d", size)
		body := pattern(size)
		srv.Put(t, bucket, key, body)
		obj := headObj(t, c, bucket, key)
		before := len(srv.Requests())
		got, err := readRange(ctx, obj, 0, -1)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("size %d: read %d bytes, %v; want the object's %d bytes", size, len(got), err, size)
			continue
		}
		wantGets := 1
		if size > 2*part {
			wantGets = (size + part - 1) / part
		}
		if size == 0 {
			wantGets = 0
		}
		g := gets(t, srv.Requests()[before:], key)
		if len(g) != wantGets {
			t.Errorf("size %d: %d GETs, want %d", size, len(g), wantGets)
		}
		if wantGets > 1 {
			seen := map[string]bool{}
			for _, r := range g {
				seen[r.Range] = true
			}
			for i := 0; i < wantGets; i++ {
				end := min((i+1)*part, size) - 1
				if rng := "bytes=" + strconv.Itoa(i*part) + "-" + strconv.Itoa(end); !seen[rng] {
					t.Errorf("size %d: no GET of part %d (%s) in %v", size, i, rng, g)
				}
			}
		}
	}

	// Arbitrary ranges of a many-part object.
	size := 20*part + 333
	body := pattern(size)
	srv.Put(t, bucket, "ranges", body)
	obj := headObj(t, c, bucket, "ranges")
	for _, tc := range []struct{ off, n int64 }{
		{0, -1}, {1, -1}, {part - 1, 2*int64(part) + 2}, {3*int64(part) + 5, 7 * int64(part)},
		{int64(size) - 3*int64(part) - 1, -1}, {17, int64(size) - 17}, {17, int64(size) + 1000},
		{int64(part), 2*int64(part) + 1}, {int64(size) - 1, -1}, {int64(size) - 2*int64(part), 2 * int64(part)},
	} {
		got, err := readRange(ctx, obj, tc.off, tc.n)
		end := int64(size)
		if tc.n >= 0 {
			end = min(end, tc.off+tc.n)
		}
		if err != nil || !bytes.Equal(got, body[tc.off:end]) {
			t.Errorf("Open(%d, %d): %d bytes, %v; want bytes [%d, %d)", tc.off, tc.n, len(got), err, tc.off, end)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ifMatch) > 0 {
		t.Errorf("GETs without If-Match: %v", ifMatch)
	}
}

// TestParallelReadOpensConnectionsAtOnce counts, at a throttling proxy,
// the connections a large read opens at once (several; one for a
// single-GET client), and at the client the GETs open at once (never more
// than Concurrency).
func TestParallelReadOpensConnectionsAtOnce(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	size := 16 * part
	body := pattern(size)
	srv.Put(t, bucket, "big.bin", body)
	info, err := client(srv, srv.Endpoint, source.Options{}).Head(ctxT(t), bucket, "big.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		concurrency int
		minConns    int
	}{
		{"parallel", 4, 2},
		{"one GET", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := srv.S3ThrottleProxy(t, testenv.ThrottleOptions{BytesPerSecond: 4 << 20, FirstByteLatency: 20 * time.Millisecond})
			hc := freshHTTP(t)
			ct := &countingTransport{rt: hc.Transport}
			hc.Transport = ct
			c := client(srv, proxy.Endpoint(), source.Options{HTTPClient: hc, Fetch: source.FetchOptions{PartSize: part, Concurrency: tc.concurrency, Mode: source.FetchParts}})
			got, err := readRange(ctxT(t), c.Object(ctxT(t), info), 0, -1)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			// The proxy counts a write once it returns, which may be after
			// the client has read it: wait for the count to catch up.
			st := proxy.Stats()
			for deadline := time.Now().Add(2 * time.Second); st.Bytes < int64(size) && time.Now().Before(deadline); st = proxy.Stats() {
				time.Sleep(5 * time.Millisecond)
			}
			if st.MaxOpen < tc.minConns || (tc.concurrency == 1 && st.Accepted != 1) {
				t.Errorf("connections open at once = %d (accepted %d), want at least %d (%+v)", st.MaxOpen, st.Accepted, tc.minConns, st)
			}
			if max := ct.maxOpen(); max > tc.concurrency || max < tc.minConns {
				t.Errorf("GETs open at once = %d, want %d to %d", max, tc.minConns, tc.concurrency)
			}
			if st.Bytes < int64(size) {
				t.Errorf("proxy delivered %d bytes, want at least %d", st.Bytes, size)
			}
		})
	}
}

// countingTransport counts the requests open at once: from RoundTrip to
// the Close of the response body.
type countingTransport struct {
	rt        http.RoundTripper
	mu        sync.Mutex
	open, max int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.open++
	c.max = max(c.max, c.open)
	c.mu.Unlock()
	done := sync.OnceFunc(func() {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
	})
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		done()
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, done: done}
	return resp, nil
}

func (c *countingTransport) maxOpen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

type countedBody struct {
	io.ReadCloser
	done func()
}

func (b *countedBody) Close() error {
	b.done()
	return b.ReadCloser.Close()
}

func TestParallelReadOfChangedObject(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	size := 10 * part
	old, replacement := pattern(size), bytes.Repeat([]byte{'x'}, size)
	c := client(srv, srv.Endpoint, source.Options{Fetch: source.FetchOptions{PartSize: part, Concurrency: 2, Mode: source.FetchParts}})
	ctx := ctxT(t)

	t.Run("overwritten mid-read", func(t *testing.T) {
		srv.Put(t, bucket, "k.bin", old)
		var info source.ObjectInfo
		if err := c.List(ctx, bucket, "k.bin", "", func(o source.ObjectInfo) error { info = o; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := readAcrossOverwrite(t, c.Object(ctx, info), func() { srv.Put(t, bucket, "k.bin", replacement) })
		if !errors.Is(err, source.ErrChanged) {
			t.Fatalf("read after an overwrite: %d bytes, %v; want ErrChanged", len(got), err)
		}
		if !bytes.Equal(got, old[:len(got)]) {
			t.Errorf("the %d bytes read before the error are not the listed version's", len(got))
		}
		cl := source.Classify(err)
		if cl.Kind != source.KindChanged || cl.Permanent || !strings.Contains(cl.Message, "s3://"+bucket+"/k.bin") || !strings.Contains(cl.Fix, "new version") {
			t.Errorf("Classify = %+v", cl)
		}
	})

	t.Run("version pinned", func(t *testing.T) {
		vb := srv.UniqueBucket(t)
		srv.EnableVersioning(t, vb)
		srv.Put(t, vb, "k.bin", old)
		got, err := readAcrossOverwrite(t, headObj(t, c, vb, "k.bin"), func() { srv.Put(t, vb, "k.bin", replacement) })
		if err != nil || !bytes.Equal(got, old) {
			t.Errorf("the listed version, no longer current: %d bytes, %v; want it whole", len(got), err)
		}
	})
}

func TestParallelReadResumesCutParts(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	const partSize = 4 * part
	size := 8*partSize + 100
	body := pattern(size)
	srv.Put(t, bucket, "cut.bin", body)
	rec := srv.RecordingProxy(t)
	proxy := testenv.NewThrottleProxy(t, rec.Endpoint, testenv.ThrottleOptions{})
	c := client(srv, proxy.Endpoint(), source.Options{HTTPClient: freshHTTP(t), Fetch: source.FetchOptions{PartSize: partSize, Concurrency: 3}})
	obj := headObj(t, c, bucket, "cut.bin")
	ctx := ctxT(t)

	// Two answers cut after 100 KiB: their parts resume where they stopped.
	rec.Reset()
	proxy.CutAfter(100<<10, 2)
	got, err := readRange(ctx, obj, 0, -1)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with cut connections: %d bytes, %v", len(got), err)
	}
	if n := proxy.Stats().Cut; n != 2 {
		t.Fatalf("the proxy cut %d answers, want 2", n)
	}
	var resumed int
	for _, r := range gets(t, rec.Requests(), "cut.bin") {
		start, _, _ := strings.Cut(strings.TrimPrefix(r.Range, "bytes="), "-")
		if off, _ := strconv.Atoi(start); off%partSize != 0 {
			resumed++
		}
	}
	if resumed != 2 {
		t.Errorf("%d GETs resumed a part in its middle, want 2: %+v", resumed, rec.Requests())
	}

	// Every answer cut: the read fails after a few resumes, transient,
	// naming the object.
	proxy.CutAfter(2<<10, 1000)
	_, err = readRange(ctx, obj, 0, -1)
	cl := source.Classify(err)
	if err == nil || cl.Permanent || !strings.Contains(err.Error(), "s3://"+bucket+"/cut.bin") {
		t.Errorf("read with every answer cut: %v (%+v)", err, cl)
	}
	proxy.CutAfter(0, 0)
}

// partGoroutines returns the stacks of goroutines running a parallel
// read's code.
func partGoroutines() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf)) // every goroutine, however many
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// A goroutine in its deferred wg.Done, or in start's closure past
		// fetch (only the deferred Done follows it), has ended its work:
		// Close may have returned in that instant.
		done := strings.Contains(g, "sync.(*WaitGroup)") ||
			strings.Contains(g, "(*partReader).start.func1") && !strings.Contains(g, "(*partReader).fetch")
		if strings.Contains(g, "source.(*partReader)") && !done {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// waitNoPartGoroutines fails the test if goroutines of a parallel read
// are left (after a grace period for goroutines that are returning).
func waitNoPartGoroutines(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := partGoroutines()
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: goroutines left:\n%s", what, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParallelReadCloseAndCancelLeaveNoGoroutine(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	size := 32 * part
	body := pattern(size)
	srv.Put(t, bucket, "slow.bin", body)
	// Slow connections: every part is still downloading when the read
	// is stopped.
	proxy := srv.S3ThrottleProxy(t, testenv.ThrottleOptions{BytesPerSecond: 256 << 10})
	c := client(srv, proxy.Endpoint(), source.Options{HTTPClient: freshHTTP(t), Fetch: source.FetchOptions{PartSize: part, Concurrency: 4, Mode: source.FetchParts}})
	obj := headObj(t, c, bucket, "slow.bin")
	waitNoPartGoroutines(t, "before")

	t.Run("close mid-read", func(t *testing.T) {
		rc, err := obj.Open(ctxT(t), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 1000)
		if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, body[:1000]) {
			t.Fatalf("head: %v", err)
		}
		if partGoroutines() == "" {
			t.Fatal("no part goroutine running during the read: the test does not test Close")
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if left := partGoroutines(); left != "" {
			t.Errorf("goroutines left after Close returned:\n%s", left)
		}
		if _, err := rc.Read(head); err == nil {
			t.Errorf("Read after Close succeeded")
		}
		if err := rc.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("close before reading", func(t *testing.T) {
		rc, err := obj.Open(ctxT(t), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if left := partGoroutines(); left != "" {
			t.Errorf("goroutines left after Close returned:\n%s", left)
		}
	})

	t.Run("close from another goroutine during a blocked read", func(t *testing.T) {
		rc, err := obj.Open(ctxT(t), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, rc)
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		rc.Close()
		if err := <-done; err == nil {
			t.Errorf("a read interrupted by Close ended without an error")
		}
		waitNoPartGoroutines(t, "after Close during a read")
	})

	t.Run("cancel mid-read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctxT(t))
		rc, err := obj.Open(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		head := make([]byte, 1000)
		if _, err := io.ReadFull(rc, head); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = io.Copy(io.Discard, rc)
		if cl := source.Classify(err); err == nil || cl.Kind != source.KindCanceled {
			t.Errorf("read after cancel: %v (%+v)", err, cl)
		}
		// Without Close: cancellation alone ends the goroutines.
		waitNoPartGoroutines(t, "after cancel")
	})
}

func TestFetchOptionsValidate(t *testing.T) {
	cases := []struct {
		opt     source.FetchOptions
		wantErr string
		buffers int64
	}{
		{source.FetchOptions{}, "", 32 << 20},
		{source.FetchOptions{PartSize: 16 << 20, Concurrency: 8}, "", 128 << 20},
		{source.FetchOptions{Concurrency: 1}, "", 0},
		{source.FetchOptions{PartSize: 1000}, "PartSize", 0},
		{source.FetchOptions{PartSize: 1 << 30}, "PartSize", 0},
		{source.FetchOptions{Concurrency: -1}, "Concurrency", 0},
		{source.FetchOptions{Concurrency: 65}, "Concurrency", 0},
		{source.FetchOptions{PartSize: 256 << 20, Concurrency: 4}, "PartSize × Concurrency", 0},
		{source.FetchOptions{Mode: source.FetchParts}, "", 32 << 20},
		{source.FetchOptions{Mode: 2}, "Mode", 0},
	}
	for _, c := range cases {
		err := c.opt.Validate()
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", c.opt, err)
		case c.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), c.wantErr+": ")):
			t.Errorf("%+v: %v, want an error about %s", c.opt, err, c.wantErr)
		case c.wantErr != "":
			var fe *source.FetchOptionError
			if !errors.As(err, &fe) || strings.Join(fe.Fields, " × ") != c.wantErr {
				t.Errorf("%+v: %#v, want a *FetchOptionError naming %s", c.opt, err, c.wantErr)
			}
		case c.wantErr == "" && c.opt.BufferBytes() != c.buffers:
			t.Errorf("%+v: BufferBytes = %d, want %d", c.opt, c.opt.BufferBytes(), c.buffers)
		}
	}
}

// TestParallelReadCatchesAServerIgnoringIfMatch reads from an in-process
// S3 (gofakes3) that ignores If-Match on GET: an overwrite mid-read is
// still caught, by the ETag of each part's answer, before any byte of the
// new version is returned.
func TestParallelReadCatchesAServerIgnoringIfMatch(t *testing.T) {
	f := newFakeS3(t, nil)
	ctx := ctxT(t)
	put := func(body []byte) { f.put(t, "k.bin", body) }
	size := 10 * part
	old, replacement := pattern(size), bytes.Repeat([]byte{'x'}, size)
	put(old)
	for _, tc := range []struct {
		name string
		etag bool // the listing's ETag is known (else the first answer's pins the read)
		mode source.FetchMode
	}{
		{"listed ETag", true, source.FetchParts}, {"first part's ETag", false, source.FetchParts},
		{"adaptive, listed ETag", true, source.FetchAdaptive}, {"adaptive, first answer's ETag", false, source.FetchAdaptive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client(t, f.URL, source.FetchOptions{PartSize: part, Concurrency: 2, Mode: tc.mode})
			put(old)
			info, err := c.Head(ctx, "fake", "k.bin", "")
			if err != nil {
				t.Fatal(err)
			}
			info.VersionID = "" // gofakes3 names versions it drops on overwrite: pin by ETag only
			if !tc.etag {
				info.ETag = ""
			}
			got, err := readAcrossOverwrite(t, c.Object(ctx, info), func() { put(replacement) })
			if !errors.Is(err, source.ErrChanged) || !bytes.Equal(got, old[:len(got)]) {
				t.Errorf("read after an overwrite: %d bytes (the listed version's: %v), %v; want ErrChanged and no byte of the new version",
					len(got), bytes.Equal(got, old[:len(got)]), err)
			}
			if cl := source.Classify(err); cl.Kind != source.KindChanged || cl.Permanent {
				t.Errorf("Classify = %+v", cl)
			}
		})
	}
}

// readAcrossOverwrite opens the whole of obj, reads its first part, calls
// overwrite (which replaces the object in the store), then reads on: it
// returns every byte read and the error that ended the read (nil at EOF).
func readAcrossOverwrite(t *testing.T, obj *source.Object, overwrite func()) ([]byte, error) {
	t.Helper()
	ctx := ctxT(t)
	rc, err := obj.Open(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, part)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	overwrite()
	rest, err := io.ReadAll(rc)
	return append(head, rest...), err
}
