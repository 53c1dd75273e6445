package testenv

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- serving helpers -------------------------------------------------------------

// serve runs h on a fresh 127.0.0.1 listener and returns its base URL and a
// close function.
func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(l) }()
	var once sync.Once
	return "http://" + l.Addr().String(), func() { once.Do(func() { _ = srv.Close() }) }, nil
}

// newReverseProxy forwards to target, keeping the Host header the client
// sent (its SigV4 signature covers it) and adding no X-Forwarded-* headers.
func (s *S3Server) newReverseProxy(target string, modify func(*http.Response) error) *httputil.ReverseProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = u.Scheme
			pr.Out.URL.Host = u.Host
			pr.Out.Host = pr.In.Host
		},
		Transport:      s.upstream,
		FlushInterval:  -1,
		ModifyResponse: modify,
		ErrorLog:       log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, http.ErrAbortHandler) {
				panic(http.ErrAbortHandler)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// ---- STS External ID proxy ------------------------------------------------------

// AssumeRoleCall is one AssumeRole request seen by the STS proxy.
type AssumeRoleCall struct {
	Time        time.Time
	AccessKeyID string // caller's access key
	RoleARN     string
	ExternalID  string // "" if the request had none
	SessionName string
	Duration    int // DurationSeconds, 0 if absent
	// Status is the HTTP status returned to the caller.
	Status int
	// DeniedByProxy is true when the proxy answered AccessDenied because the
	// External ID (or the exact role ARN) did not match.
	DeniedByProxy bool
}

// AssumeRoleCalls returns how many AssumeRole requests the STS proxy saw
// (allowed or denied). On the shared instance this counts every test's
// calls; use AssumeRoleLog to filter.
func (s *S3Server) AssumeRoleCalls() int64 { return s.assumeRoleCalls.Load() }

// AssumeRoleLog returns every AssumeRole request the STS proxy saw, in order.
func (s *S3Server) AssumeRoleLog() []AssumeRoleCall {
	s.stsMu.Lock()
	defer s.stsMu.Unlock()
	return append([]AssumeRoleCall(nil), s.stsLog...)
}

func (s *S3Server) startSTSProxy() error {
	rp := s.newReverseProxy(s.Endpoint, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveSTS(w, r, rp) })
	endpoint, closeFn, err := serve(h)
	if err != nil {
		return fmt.Errorf("STS proxy: %w", err)
	}
	s.STSEndpoint = endpoint
	s.addCloser(closeFn)
	return nil
}

// serveSTS forwards everything unchanged except AssumeRole calls whose
// External ID does not match the role's: those are still sent to SeaweedFS
// (so signature and trust errors come back exactly as SeaweedFS reports
// them, before the External ID is judged, as in AWS), but a success is
// replaced with 403 AccessDenied.
func (s *S3Server) serveSTS(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	form := url.Values{}
	for k, v := range r.URL.Query() {
		form[k] = v
	}
	if r.Method == http.MethodPost && r.Body != nil {
		const maxForm = 1 << 20
		body, err := io.ReadAll(io.LimitReader(r.Body, maxForm+1))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxForm {
			// Not an STS form; forward it untouched.
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
			rp.ServeHTTP(w, r)
			return
		}
		r.Body.Close()
		// Restore the body byte for byte: the SigV4 signature covers its hash.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			if vals, err := url.ParseQuery(string(body)); err == nil {
				for k, v := range vals {
					form[k] = append(form[k], v...)
				}
			}
		}
	}
	if form.Get("Action") != "AssumeRole" {
		rp.ServeHTTP(w, r)
		return
	}

	s.assumeRoleCalls.Add(1)
	call := AssumeRoleCall{
		Time:        time.Now(),
		AccessKeyID: accessKeyOf(r),
		RoleARN:     form.Get("RoleArn"),
		ExternalID:  form.Get("ExternalId"),
		SessionName: form.Get("RoleSessionName"),
	}
	call.Duration, _ = strconv.Atoi(form.Get("DurationSeconds"))
	logged := false
	logCall := func(status int) {
		if logged {
			return
		}
		logged = true
		call.Status = status
		s.stsMu.Lock()
		s.stsLog = append(s.stsLog, call)
		s.stsMu.Unlock()
	}
	sw := &statusWriter{ResponseWriter: w, onHeader: logCall}
	defer func() { logCall(sw.status) }()

	reason := s.externalIDDenial(call.RoleARN, call.ExternalID, form.Has("ExternalId"))
	if reason == "" {
		rp.ServeHTTP(sw, r)
		return
	}
	// Ask SeaweedFS first; only a success is overridden.
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = "http"
	out.URL.Host = strings.TrimPrefix(s.Endpoint, "http://")
	out.Host = r.Host
	resp, err := s.upstream.RoundTrip(out)
	if err != nil {
		sw.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		for k, v := range resp.Header {
			sw.Header()[k] = v
		}
		sw.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(sw, resp.Body)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	call.DeniedByProxy = true
	caller := "unknown"
	if name, ok := s.rc.keyOwners[call.AccessKeyID]; ok {
		caller = Identity{Name: name}.ARN()
	}
	writeSTSError(sw, http.StatusForbidden, "Sender", "AccessDenied",
		fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s (%s)", caller, call.RoleARN, reason))
}

// externalIDDenial returns why the proxy refuses the call, or "".
func (s *S3Server) externalIDDenial(roleARN, externalID string, present bool) string {
	if roleARN == "" {
		return "" // SeaweedFS's assume-self; not an AWS shape, left to SeaweedFS
	}
	role, ok := s.rc.roles[roleARN]
	if !ok {
		// SeaweedFS resolves roles by name only; insist on the exact ARN.
		return "no role with this exact ARN"
	}
	if role.externalID == "" {
		return ""
	}
	if !present || externalID == "" {
		return "the role's trust policy requires sts:ExternalId and the request has none"
	}
	if externalID != role.externalID {
		return "sts:ExternalId does not match the role's trust policy"
	}
	return ""
}

// writeSTSError writes an STS (awsquery) XML error that aws-sdk-go-v2 parses
// into ErrorCode() == code.
func writeSTSError(w http.ResponseWriter, status int, typ, code, msg string) {
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>`)
	_ = xml.EscapeText(&b, []byte(typ))
	b.WriteString(`</Type><Code>`)
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString(`</Code><Message>`)
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</Message></Error><RequestId>`)
	b.WriteString(requestID())
	b.WriteString(`</RequestId></ErrorResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func requestID() string {
	h := randHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// statusWriter remembers the status and calls onHeader once, when the
// status line is written: before the client can see the response, so
// whatever onHeader records is visible to a test as soon as its call returns.
type statusWriter struct {
	http.ResponseWriter
	status   int
	onHeader func(status int)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.onHeader != nil {
			w.onHeader(code)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ---- fault injection and recording ----------------------------------------------

// Special statuses a FaultProxy function may return with inject == true.
const (
	// FaultReset closes the client's TCP connection (RST) without any
	// response.
	FaultReset = -1
	// FaultTruncate forwards the request, sends the response headers and
	// about half of the body, then drops the connection (the client sees an
	// unexpected EOF while reading the body).
	FaultTruncate = -2
)

// RecordedRequest is one S3 request that passed through a testenv proxy.
type RecordedRequest struct {
	Time        time.Time
	Proxy       string // the proxy endpoint it came through
	Method      string
	Path        string // escaped path, e.g. /bucket/key
	Query       string // raw query
	AccessKeyID string
	Range       string // Range header, if any
	IfMatch     string // If-Match header, if any
	Status      int    // status sent to the client; FaultReset or FaultTruncate for those faults
	Injected    bool   // true if the proxy injected the failure
}

// Requests returns the S3 requests seen by this server's FaultProxy and
// RecordingProxy endpoints, in arrival order (requests sent to Endpoint
// directly are not recorded). On the shared instance it includes every
// test's proxied requests: filter by Proxy or Path.
func (s *S3Server) Requests() []RecordedRequest {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return append([]RecordedRequest(nil), s.recorded...)
}

// RecordingProxy forwards every request to an upstream unchanged and
// records it.
type RecordingProxy struct {
	// Endpoint is the proxy's base URL (http://127.0.0.1:PORT).
	Endpoint string

	mu       sync.Mutex
	requests []RecordedRequest
}

// Requests returns the requests that went through this proxy, in order.
func (p *RecordingProxy) Requests() []RecordedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]RecordedRequest(nil), p.requests...)
}

// Reset forgets the recorded requests.
func (p *RecordingProxy) Reset() {
	p.mu.Lock()
	p.requests = nil
	p.mu.Unlock()
}

// RecordingProxy starts a proxy in front of Endpoint that forwards requests
// unchanged and records them (e.g. to count ranged GETs). Closed in
// t.Cleanup.
func (s *S3Server) RecordingProxy(t testing.TB) *RecordingProxy {
	t.Helper()
	rp := &RecordingProxy{}
	rp.Endpoint = s.startProxy(t, s.Endpoint, nil, rp, true)
	return rp
}

// FaultProxy starts an in-process reverse proxy in front of Endpoint that
// injects failures: for each request f decides; if inject is true the proxy
// answers with status (with an S3 XML error body such as SlowDown for 503,
// InternalError for 500) without forwarding, or applies FaultReset /
// FaultTruncate. Otherwise the request is forwarded unchanged. f runs
// concurrently for concurrent requests. Requests are recorded (Requests()).
// Closed in t.Cleanup; returns the proxy's endpoint.
func (s *S3Server) FaultProxy(t testing.TB, f func(r *http.Request) (status int, inject bool)) (endpoint string) {
	t.Helper()
	return s.startProxy(t, s.Endpoint, f, nil, true)
}

// STSFaultProxy is FaultProxy in front of STSEndpoint (so the External ID
// check still applies to forwarded calls); injected errors are STS XML
// errors (e.g. 503 ServiceUnavailable, 400 Throttling for 429). Its requests
// are not added to Requests().
func (s *S3Server) STSFaultProxy(t testing.TB, f func(r *http.Request) (status int, inject bool)) (endpoint string) {
	t.Helper()
	return s.startProxy(t, s.STSEndpoint, f, nil, false)
}

func (s *S3Server) startProxy(t testing.TB, target string, f func(*http.Request) (int, bool), rec *RecordingProxy, isS3 bool) string {
	t.Helper()
	var self string
	rp := s.newReverseProxy(target, func(resp *http.Response) error {
		if resp.Request != nil && resp.Request.Context().Value(truncateKey{}) != nil {
			resp.Body = truncateBody(resp.Body, resp.ContentLength)
		}
		return nil
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr := RecordedRequest{
			Time:        time.Now(),
			Proxy:       self,
			Method:      r.Method,
			Path:        r.URL.EscapedPath(),
			Query:       r.URL.RawQuery,
			AccessKeyID: accessKeyOf(r),
			Range:       r.Header.Get("Range"),
			IfMatch:     r.Header.Get("If-Match"),
		}
		recorded := false
		record := func() {
			if recorded {
				return
			}
			recorded = true
			if rec != nil {
				rec.mu.Lock()
				rec.requests = append(rec.requests, rr)
				rec.mu.Unlock()
			}
			if isS3 {
				s.recMu.Lock()
				s.recorded = append(s.recorded, rr)
				s.recMu.Unlock()
			}
		}
		status, inject := 0, false
		if f != nil {
			status, inject = f(r)
		}
		if inject {
			rr.Injected = true
			rr.Status = status
			switch status {
			case FaultReset:
				record()
				resetConn(w)
				return
			case FaultTruncate:
				// forwarded below, body cut short
			default:
				record()
				if isS3 {
					writeS3Error(w, r, status)
				} else {
					writeSTSFault(w, status)
				}
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w, onHeader: func(status int) {
			if rr.Status == 0 {
				rr.Status = status
			}
			record()
		}}
		defer record() // nothing was written (e.g. the client went away)
		out := r
		if status == FaultTruncate && inject {
			out = r.WithContext(context.WithValue(r.Context(), truncateKey{}, true))
		}
		rp.ServeHTTP(sw, out)
	})
	endpoint, closeFn, err := serve(h)
	if err != nil {
		t.Fatalf("testenv: start proxy: %v", err)
	}
	self = endpoint
	t.Cleanup(closeFn)
	s.addCloser(closeFn)
	return endpoint
}

type truncateKey struct{}

// truncateBody returns a body that yields about half of the content, then
// fails, which makes ReverseProxy abort the connection.
func truncateBody(body io.ReadCloser, length int64) io.ReadCloser {
	limit := length / 2
	if length <= 0 {
		limit = 1
	}
	return &failingBody{r: io.LimitReader(body, limit), c: body}
}

type failingBody struct {
	r io.Reader
	c io.Closer
}

func (b *failingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errors.New("testenv: injected truncation")
	}
	return n, err
}

func (b *failingBody) Close() error { return b.c.Close() }

// resetConn hijacks the connection and closes it with SO_LINGER 0 (RST).
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// s3ErrorCodes maps injected statuses to S3 error codes.
var s3ErrorCodes = map[int]string{
	http.StatusBadRequest:          "BadRequest",
	http.StatusForbidden:           "AccessDenied",
	http.StatusNotFound:            "NoSuchKey",
	http.StatusConflict:            "OperationAborted",
	http.StatusPreconditionFailed:  "PreconditionFailed",
	http.StatusTooManyRequests:     "SlowDown",
	http.StatusInternalServerError: "InternalError",
	http.StatusNotImplemented:      "NotImplemented",
	http.StatusBadGateway:          "BadGateway",
	http.StatusServiceUnavailable:  "SlowDown",
	http.StatusGatewayTimeout:      "GatewayTimeout",
}

func writeS3Error(w http.ResponseWriter, r *http.Request, status int) {
	code, ok := s3ErrorCodes[status]
	if !ok {
		code = strings.ReplaceAll(http.StatusText(status), " ", "")
	}
	w.Header().Set("x-amz-request-id", randHex(8))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>")
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte("testenv injected fault: "+http.StatusText(status)))
	b.WriteString("</Message><Resource>")
	_ = xml.EscapeText(&b, []byte(r.URL.Path))
	b.WriteString("</Resource><RequestId>")
	b.WriteString(requestID())
	b.WriteString("</RequestId></Error>")
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func writeSTSFault(w http.ResponseWriter, status int) {
	typ, code := "Receiver", "InternalFailure"
	switch {
	case status == http.StatusTooManyRequests:
		status, typ, code = http.StatusBadRequest, "Sender", "Throttling"
	case status == http.StatusServiceUnavailable:
		code = "ServiceUnavailable"
	case status == http.StatusForbidden:
		typ, code = "Sender", "AccessDenied"
	case status >= 400 && status < 500:
		typ, code = "Sender", strings.ReplaceAll(http.StatusText(status), " ", "")
	}
	writeSTSError(w, status, typ, code, "testenv injected fault")
}
