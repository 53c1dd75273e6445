package source_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/worker/source"
)

// adaptivePart, adaptiveConcurrency and window are the adaptive tests'
// part size, parts in flight and one round of them: reads of at least 4
// windows are adaptive.
const (
	adaptivePart        = 2 * part
	adaptiveConcurrency = 4
	window              = adaptiveConcurrency * adaptivePart
)

// rangeOf parses a GET's "bytes=a-b" into [a, b+1).
func rangeOf(t *testing.T, r testenv.RecordedRequest) (start, end int64) {
	t.Helper()
	a, b, ok := strings.Cut(strings.TrimPrefix(r.Range, "bytes="), "-")
	s, err1 := strconv.ParseInt(a, 10, 64)
	e, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("GET with Range %q, want bytes=a-b", r.Range)
	}
	return s, e + 1
}

// checkPinned fails the test for every GET without If-Match: each GET of
// a read is pinned to the version it started with.
func checkPinned(t *testing.T, what string, g []testenv.RecordedRequest) {
	t.Helper()
	for _, r := range g {
		if r.IfMatch == "" {
			t.Errorf("%s: GET %s (Range %q) without If-Match", what, r.Path, r.Range)
		}
	}
}

// TestAdaptiveReadChoosesTheFasterWay reads long ranges through two
// servers: one whose connections are slow (AWS's shape: parts win) and
// one whose short ranged GETs are slow (one GET wins), and checks the
// bytes and which GETs were made: window A as one GET of the whole range,
// window B as Concurrency parts, the rest as parts or as one GET.
func TestAdaptiveReadChoosesTheFasterWay(t *testing.T) {
	size := 6*window + 17
	body := pattern(size)
	fetch := source.FetchOptions{PartSize: adaptivePart, Concurrency: adaptiveConcurrency}
	var mu sync.Mutex
	var choices []source.FetchChoice
	observed := fetch
	observed.Observe = func(c source.FetchChoice) {
		mu.Lock()
		choices = append(choices, c)
		mu.Unlock()
	}
	takeChoices := func() []source.FetchChoice {
		mu.Lock()
		defer mu.Unlock()
		c := choices
		choices = nil
		return c
	}

	// Slow connections: one GET delivers 2 MiB/s, four parts four times that.
	fast := newFakeS3(t, nil)
	fast.put(t, "long.bin", body)
	throttled := testenv.NewThrottleProxy(t, fast.URL, testenv.ThrottleOptions{BytesPerSecond: 2 << 20})
	partsWin := fast.client(t, throttled.Endpoint(), observed)
	// Slow short ranges: each part waits 150 ms, one long GET does not.
	slow := newFakeS3(t, shortRangeDelay(adaptivePart, 150*time.Millisecond))
	slow.put(t, "long.bin", body)
	getWins := slow.client(t, slow.URL, observed)

	for _, tc := range []struct {
		name    string
		c       *source.Client
		reqs    func() []testenv.RecordedRequest
		reset   func()
		wantGET bool // the rest is one GET
	}{
		{"slow connections: parts", partsWin, fast.requests, fast.reset, false},
		{"slow ranged GETs: one GET", getWins, slow.requests, slow.reset, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := headObj(t, tc.c, "fake", "long.bin")
			for _, rg := range []struct{ off, n int64 }{
				{0, -1},
				{adaptivePart + 3, 4*window + 5},
				{int64(size) - 4*window, -1}, // exactly four windows: adaptive
			} {
				tc.reset()
				takeChoices()
				before := len(tc.reqs())
				got, err := readRange(ctxT(t), obj, rg.off, rg.n)
				end := int64(size)
				if rg.n >= 0 {
					end = rg.off + rg.n
				}
				if err != nil || !bytes.Equal(got, body[rg.off:end]) {
					t.Fatalf("Open(%d, %d): %d bytes, %v; want bytes [%d, %d)", rg.off, rg.n, len(got), err, rg.off, end)
				}
				g := gets(t, tc.reqs()[before:], "long.bin")
				checkPinned(t, fmt.Sprintf("Open(%d, %d)", rg.off, rg.n), g)
				if c := takeChoices(); len(c) != 1 || c[0].Parts == tc.wantGET || c[0].Object != "s3://fake/long.bin" ||
					c[0].GETBytesPerSecond <= 0 || c[0].PartsBytesPerSecond <= 0 {
					t.Errorf("Open(%d, %d): Observe saw %+v, want one choice of parts=%v with both rates", rg.off, rg.n, c, !tc.wantGET)
				}
				if len(g) < 1+adaptiveConcurrency+1 {
					t.Fatalf("Open(%d, %d): GETs %+v; want one GET, %d parts and the rest", rg.off, rg.n, g, adaptiveConcurrency)
				}
				if s, e := rangeOf(t, g[0]); s != rg.off || e != end {
					t.Errorf("Open(%d, %d): first GET [%d, %d), want the whole range [%d, %d)", rg.off, rg.n, s, e, rg.off, end)
				}
				probe := map[int64]bool{}
				for _, r := range g[1 : 1+adaptiveConcurrency] {
					s, e := rangeOf(t, r)
					probe[s] = e-s == adaptivePart
				}
				for i := int64(0); i < adaptiveConcurrency; i++ {
					if !probe[rg.off+window+i*adaptivePart] {
						t.Errorf("Open(%d, %d): window B has no part at %d: %+v", rg.off, rg.n, rg.off+window+i*adaptivePart, g)
					}
				}
				rest := g[1+adaptiveConcurrency:]
				if tc.wantGET {
					if s, e := rangeOf(t, rest[0]); len(rest) != 1 || s != rg.off+2*window || e != end {
						t.Errorf("Open(%d, %d): the rest as %+v, want one GET [%d, %d)", rg.off, rg.n, rest, rg.off+2*window, end)
					}
					continue
				}
				if want := int((end - rg.off - 2*window + adaptivePart - 1) / adaptivePart); len(rest) != want {
					t.Errorf("Open(%d, %d): the rest in %d GETs, want %d parts: %+v", rg.off, rg.n, len(rest), want, rest)
				}
				for _, r := range rest {
					if s, e := rangeOf(t, r); e-s > adaptivePart {
						t.Errorf("Open(%d, %d): GET [%d, %d) in the rest, want parts of %d bytes", rg.off, rg.n, s, e, adaptivePart)
					}
				}
			}
		})
	}

	// Shorter than four windows, and FetchParts: parts from the start.
	partsOnly := observed
	partsOnly.Mode = source.FetchParts
	for _, tc := range []struct {
		name string
		opt  source.FetchOptions
		n    int
	}{
		{"one byte short of four windows", observed, 4*window - 1},
		{"FetchParts", partsOnly, size},
	} {
		fast.reset()
		c := fast.client(t, fast.URL, tc.opt)
		got, err := readRange(ctxT(t), headObj(t, c, "fake", "long.bin"), 0, int64(tc.n))
		if err != nil || !bytes.Equal(got, body[:tc.n]) {
			t.Fatalf("%s: %d bytes, %v; want %d", tc.name, len(got), err, tc.n)
		}
		for _, r := range gets(t, fast.requests(), "long.bin") {
			if s, e := rangeOf(t, r); e-s > adaptivePart {
				t.Errorf("%s: GET [%d, %d), want parts only", tc.name, s, e)
			}
		}
		if c := takeChoices(); len(c) != 0 {
			t.Errorf("%s: Observe saw %+v, want no adaptive read", tc.name, c)
		}
	}

	// A server that answers a range of the whole object with the whole
	// object (200, no Content-Range), as RFC 9110 allows.
	whole := newFakeS3(t, nil)
	whole.put(t, "long.bin", body)
	whole.whole200 = fmt.Sprintf("bytes=0-%d", size-1)
	got, err := readRange(ctxT(t), headObj(t, whole.client(t, whole.URL, fetch), "fake", "long.bin"), 0, -1)
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("whole object answered with 200: %d bytes, %v; want the object", len(got), err)
	}
	if g := gets(t, whole.requests(), "long.bin"); len(g) == 0 || g[0].Range != whole.whole200 {
		t.Errorf("whole object answered with 200: GETs %+v, want the first for %s", g, whole.whole200)
	}
}

// TestAdaptiveReadKeepsAGETThatKeepsAhead reads a long range from a fast
// server (one GET and parts alike) with a caller that pauses in window A,
// as the worker does while it infers a schema from the first bytes it
// read: window A then looks slower than window B by the clock, but the
// caller hardly waited for the GET, so the rest stays one GET. The same
// caller reading through slow connections (1 MiB/s) waits for the GET
// for most of window A, and the rest is read in parts.
func TestAdaptiveReadKeepsAGETThatKeepsAhead(t *testing.T) {
	srv, body := longFake(t)
	// 1 MiB/s a connection: window A waits ~0.4 s for the GET, window B's
	// parts ~0.1 s, a margin that holds on a loaded machine.
	throttled := testenv.NewThrottleProxy(t, srv.URL, testenv.ThrottleOptions{BytesPerSecond: 1 << 20})
	for _, tc := range []struct {
		name      string
		endpoint  string
		work      time.Duration // the caller's own time per 16 KiB after its pause
		wantParts bool
	}{
		// The caller works 8 ms on every 16 KiB (2 MB/s): ~0.25 s of its
		// own a window, so that a scheduler's delay of a few tens of ms in
		// what it waits for cannot tip the choice.
		{"fast server", srv.URL, 8 * time.Millisecond, false},
		// The caller reads as fast as it can, far faster than a connection.
		{"slow connections", throttled.Endpoint(), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var choices []source.FetchChoice
			fetch := source.FetchOptions{PartSize: adaptivePart, Concurrency: adaptiveConcurrency,
				Observe: func(c source.FetchChoice) { choices = append(choices, c) }}
			srv.reset()
			rc, err := headObj(t, srv.client(t, tc.endpoint, fetch), "fake", "long.bin").Open(ctxT(t), 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			head := make([]byte, 1000)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the caller's own work on the bytes it read
			got := head
			chunk := make([]byte, 16<<10)
			for {
				n, err := rc.Read(chunk)
				got = append(got, chunk[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				time.Sleep(tc.work)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("%d bytes; want the object", len(got))
			}
			if len(choices) != 1 {
				t.Fatalf("Observe saw %+v, want one choice", choices)
			}
			c := choices[0]
			if c.Parts != tc.wantParts {
				t.Errorf("chose parts=%v (window A %.1f MB/s, waited %s; window B %.1f MB/s, waited %s), want parts=%v",
					c.Parts, c.GETBytesPerSecond/1e6, c.GETWait, c.PartsBytesPerSecond/1e6, c.PartsWait, tc.wantParts)
			}
			if !tc.wantParts && c.PartsBytesPerSecond < 1.25*c.GETBytesPerSecond {
				// The pause is meant to make window A slower by the clock,
				// which a rule comparing rates would read as "parts"; on a
				// loaded machine window B may be slow too.
				t.Logf("window B at %.1f MB/s, window A at %.1f MB/s: window A was not slower by the clock this time",
					c.PartsBytesPerSecond/1e6, c.GETBytesPerSecond/1e6)
			}
			after := gets(t, srv.requests(), "long.bin")[1+adaptiveConcurrency:]
			if n := len(after); tc.wantParts == (n == 1) {
				t.Errorf("the rest in %d GETs, want parts=%v", n, tc.wantParts)
			}
		})
	}
}

// TestAWSReadInPartsFromTheStart reads a long range with a client of AWS
// S3 itself (no custom endpoint; its requests are carried to the fake
// server by the transport): no probe, every GET a part.
func TestAWSReadInPartsFromTheStart(t *testing.T) {
	srv, body := longFake(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var hosts sync.Map
	tr := freshHTTP(t).Transport
	toFake := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hosts.Store(r.URL.Host, true)
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
		return tr.RoundTrip(r)
	})
	var choices []source.FetchChoice
	c := source.New(srv.creds, source.Options{Region: "us-east-1", UsePathStyle: true, HTTPClient: &http.Client{Transport: toFake},
		Fetch: source.FetchOptions{PartSize: adaptivePart, Concurrency: adaptiveConcurrency,
			Observe: func(c source.FetchChoice) { choices = append(choices, c) }}})
	srv.reset()
	got, err := readRange(ctxT(t), headObj(t, c, "fake", "long.bin"), 0, -1)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("%d bytes, %v; want the object", len(got), err)
	}
	if _, ok := hosts.Load("s3.us-east-1.amazonaws.com"); !ok {
		var seen []any
		hosts.Range(func(k, _ any) bool { seen = append(seen, k); return true })
		t.Fatalf("requests went to %v, want AWS S3's endpoint (the test's premise)", seen)
	}
	g := gets(t, srv.requests(), "long.bin")
	if want := (len(body) + adaptivePart - 1) / adaptivePart; len(g) != want {
		t.Errorf("%d GETs, want %d parts", len(g), want)
	}
	for _, r := range g {
		if s, e := rangeOf(t, r); e-s > adaptivePart {
			t.Errorf("GET [%d, %d), want parts only", s, e)
		}
	}
	if len(choices) != 0 {
		t.Errorf("Observe saw %+v, want no adaptive read", choices)
	}
}

// longFake starts a fakeS3 whose long.bin (returned) is six windows and a
// bit long: a read of it from the start is adaptive (four windows or more).
func longFake(t *testing.T) (*fakeS3, []byte) {
	t.Helper()
	body := pattern(6*window + 17)
	srv := newFakeS3(t, nil)
	srv.put(t, "long.bin", body)
	return srv, body
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAdaptiveReadResumesABrokenGET cuts window A's one GET in its middle:
// the read asks for the rest from where it stopped, pinned; with every
// answer cut it fails after maxPartResumes (3) resumes, transient, naming
// the object.
func TestAdaptiveReadResumesABrokenGET(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	size := 5 * window
	body := pattern(size)
	srv.Put(t, bucket, "cut.bin", body)
	rec := srv.RecordingProxy(t)
	proxy := testenv.NewThrottleProxy(t, rec.Endpoint, testenv.ThrottleOptions{})
	c := client(srv, proxy.Endpoint(), source.Options{HTTPClient: freshHTTP(t), Fetch: source.FetchOptions{PartSize: adaptivePart, Concurrency: adaptiveConcurrency}})
	obj := headObj(t, c, bucket, "cut.bin")

	rec.Reset()
	proxy.CutAfter(window/2, 1) // only window A's answer is that long before the rest
	got, err := readRange(ctxT(t), obj, 0, -1)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with window A's GET cut: %d bytes, %v", len(got), err)
	}
	if n := proxy.Stats().Cut; n != 1 {
		t.Fatalf("the proxy cut %d answers, want 1", n)
	}
	g := gets(t, rec.Requests(), "cut.bin")
	checkPinned(t, "read with a cut", g)
	if len(g) < 2 {
		t.Fatalf("GETs %+v: want window A's and its resumption", g)
	}
	if s, e := rangeOf(t, g[1]); s <= 0 || s >= window || e != int64(size) {
		t.Errorf("after the cut, GET [%d, %d); want the rest of the range from inside window A: %+v", s, e, g)
	}

	rec.Reset()
	proxy.CutAfter(2<<10, 1000)
	_, err = readRange(ctxT(t), obj, 0, -1)
	proxy.CutAfter(0, 0)
	cl := source.Classify(err)
	if err == nil || cl.Permanent || !strings.Contains(err.Error(), "s3://"+bucket+"/cut.bin") || !strings.Contains(err.Error(), "broke off 4 times in a row") {
		t.Errorf("read with every answer cut: %v (%+v)", err, cl)
	}
	if g := gets(t, rec.Requests(), "cut.bin"); len(g) != 4 {
		t.Errorf("read with every answer cut: %d GETs, want 4 (the first and 3 resumes): %+v", len(g), g)
	}
}

// TestAdaptiveReadOfChangedObject replaces the object after the first
// bytes of window A: no byte of the new version is read; the read fails
// with ErrChanged, or reads the listed version whole when it is pinned by
// its version ID.
func TestAdaptiveReadOfChangedObject(t *testing.T) {
	srv := testenv.S3(t)
	size := 5 * window
	old, replacement := pattern(size), bytes.Repeat([]byte{'x'}, size)
	c := client(srv, srv.Endpoint, source.Options{Fetch: source.FetchOptions{PartSize: adaptivePart, Concurrency: adaptiveConcurrency}})

	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "k.bin", old)
	got, err := readAcrossOverwrite(t, headObj(t, c, bucket, "k.bin"), func() { srv.Put(t, bucket, "k.bin", replacement) })
	if !errors.Is(err, source.ErrChanged) || !bytes.Equal(got, old[:len(got)]) {
		t.Errorf("read across an overwrite: %d bytes (the listed version's: %v), %v; want ErrChanged", len(got), bytes.Equal(got, old[:len(got)]), err)
	}

	vb := srv.UniqueBucket(t)
	srv.EnableVersioning(t, vb)
	srv.Put(t, vb, "k.bin", old)
	got, err = readAcrossOverwrite(t, headObj(t, c, vb, "k.bin"), func() { srv.Put(t, vb, "k.bin", replacement) })
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("the listed version, no longer current: %d bytes, %v; want it whole", len(got), err)
	}
}

// TestAdaptiveReadCloseAndCancel stops adaptive reads in window A (a
// blocked Read returns) and in the rest read in parts (no goroutine left).
func TestAdaptiveReadCloseAndCancel(t *testing.T) {
	size := 8 * window
	body := pattern(size)
	f := newFakeS3(t, nil)
	f.put(t, "slow.bin", body)
	proxy := testenv.NewThrottleProxy(t, f.URL, testenv.ThrottleOptions{BytesPerSecond: 256 << 10})
	c := f.client(t, proxy.Endpoint(), source.FetchOptions{PartSize: adaptivePart, Concurrency: adaptiveConcurrency})
	obj := headObj(t, c, "fake", "slow.bin")
	waitNoPartGoroutines(t, "before")

	for _, tc := range []struct {
		name  string
		at    int  // bytes read before stopping (in the rest: less than the body of a part's first 64 KiB the proxy sends, so that every part is still downloading)
		parts bool // parts are running then
		stop  func(rc io.Closer, cancel context.CancelFunc)
	}{
		{"close in window A", adaptivePart, false, func(rc io.Closer, _ context.CancelFunc) { rc.Close() }},
		{"cancel in window A", adaptivePart, false, func(_ io.Closer, cancel context.CancelFunc) { cancel() }},
		{"close in the rest", 2*window + adaptivePart/4, true, func(rc io.Closer, _ context.CancelFunc) { rc.Close() }},
		{"cancel in the rest", 2*window + adaptivePart/4, true, func(_ io.Closer, cancel context.CancelFunc) { cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			rc, err := obj.Open(ctx, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			head := make([]byte, tc.at)
			if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, body[:tc.at]) {
				t.Fatalf("head: %v", err)
			}
			if running := partGoroutines() != ""; running != tc.parts {
				t.Fatalf("part goroutines running after %d bytes: %v, want %v", tc.at, running, tc.parts)
			}
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, rc)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			tc.stop(rc, cancel)
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("a read stopped mid-way ended without an error")
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("a blocked Read did not return within 5 s of the stop")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the blocked Read returned %s after the stop", d)
			}
			waitNoPartGoroutines(t, fmt.Sprintf("after %s", tc.name))
		})
	}
}
