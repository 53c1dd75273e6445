package testenv_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/internal/testenv"
)

// TestThrottleProxy checks what the proxy counts and cuts (no timing: the
// benchmarks measure the bandwidth it gives).
func TestThrottleProxy(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	t.Cleanup(srv.Close)
	p := testenv.NewThrottleProxy(t, srv.URL, testenv.ThrottleOptions{BytesPerSecond: 64 << 20})
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	get := func() ([]byte, error) {
		resp, err := hc.Get(p.Endpoint())
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}

	// Sequential requests share one kept-alive connection.
	for range 3 {
		if got, err := get(); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("GET through the proxy: %d bytes, %v", len(got), err)
		}
	}
	if st := p.Stats(); st.Accepted != 1 || st.MaxOpen != 1 || st.Bytes < 3*int64(len(body)) {
		t.Errorf("after 3 sequential GETs: %+v, want 1 connection and 3 bodies delivered", st)
	}

	// Concurrent requests: one connection each, all open at once while the
	// server holds its answers.
	p.ResetStats()
	var wg sync.WaitGroup
	hold := make(chan struct{})
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hold; w.Write(body) }))
	t.Cleanup(held.Close)
	hp := testenv.NewThrottleProxy(t, held.URL, testenv.ThrottleOptions{})
	for range 4 {
		wg.Go(func() {
			resp, err := hc.Get(hp.Endpoint())
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	// The proxy accepts each connection before the server sees its request.
	for deadline := time.Now().Add(10 * time.Second); hp.Stats().Accepted < 4 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if st := hp.Stats(); st.MaxOpen != 4 {
		t.Errorf("4 concurrent requests: %+v, want 4 connections open at once", st)
	}
	close(hold)
	wg.Wait()

	// A cut answer: the client sees a body cut short.
	p.CutAfter(10_000, 1)
	got, err := get()
	if err == nil || len(got) >= len(body) || p.Stats().Cut != 1 {
		t.Errorf("cut answer: %d bytes, %v, %+v; want a short body and an error", len(got), err, p.Stats())
	}
	if got, err := get(); err != nil || !bytes.Equal(got, body) {
		t.Errorf("after the cut: %d bytes, %v", len(got), err)
	}
}
