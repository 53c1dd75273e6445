package source_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/worker/source"
)

// fakeS3 is an in-process S3 server (gofakes3) that records every GET
// and may delay requests: the adaptive tests' choices depend on timing,
// which an in-process server keeps predictable (SeaweedFS's own ranged
// GETs take 30–500 ms on a loaded machine).
type fakeS3 struct {
	URL   string
	creds aws.CredentialsProvider
	admin *s3.Client
	delay func(r *http.Request) time.Duration
	// whole200, when set, makes a GET of exactly this Range header an
	// answer of the whole object (200, no Content-Range), as RFC 9110
	// allows.
	whole200 string

	mu   sync.Mutex
	reqs []testenv.RecordedRequest
}

// newFakeS3 starts a fakeS3 with the bucket "fake"; delay (may be nil)
// says how long to hold each request.
func newFakeS3(t *testing.T, delay func(r *http.Request) time.Duration) *fakeS3 {
	t.Helper()
	f := &fakeS3{delay: delay, creds: credentials.NewStaticCredentialsProvider("AKIATESTFAKE00000001", "secret", "")}
	h := gofakes3.New(s3mem.New()).Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			f.mu.Lock()
			f.reqs = append(f.reqs, testenv.RecordedRequest{Time: time.Now(), Method: r.Method, Path: r.URL.Path,
				Range: r.Header.Get("Range"), IfMatch: r.Header.Get("If-Match")})
			whole := f.whole200 != "" && r.Header.Get("Range") == f.whole200
			f.mu.Unlock()
			if whole {
				r.Header.Del("Range")
			}
		}
		if f.delay != nil {
			time.Sleep(f.delay(r))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f.URL = ts.URL
	f.admin = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true, Credentials: f.creds})
	if _, err := f.admin.CreateBucket(ctxT(t), &s3.CreateBucketInput{Bucket: aws.String("fake")}); err != nil {
		t.Fatal(err)
	}
	return f
}

// put stores body as key in the bucket "fake".
func (f *fakeS3) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := f.admin.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String("fake"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// requests returns the GETs recorded since the last reset.
func (f *fakeS3) requests() []testenv.RecordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]testenv.RecordedRequest(nil), f.reqs...)
}

func (f *fakeS3) reset() {
	f.mu.Lock()
	f.reqs = nil
	f.mu.Unlock()
}

// client returns a source client reading through endpoint (the server's
// URL, or a proxy in front of it) with its own connections.
func (f *fakeS3) client(t *testing.T, endpoint string, fetch source.FetchOptions) *source.Client {
	return source.New(f.creds, source.Options{Endpoint: endpoint, Region: "us-east-1", HTTPClient: freshHTTP(t), Fetch: fetch})
}

// shortRangeDelay holds every GET of at most limit bytes for d: a server
// whose ranged GETs are slow and whose long streams are fast, as
// SeaweedFS's are on one host.
func shortRangeDelay(limit int64, d time.Duration) func(r *http.Request) time.Duration {
	return func(r *http.Request) time.Duration {
		if r.Method != http.MethodGet {
			return 0
		}
		a, b, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "-")
		s, err1 := strconv.ParseInt(a, 10, 64)
		e, err2 := strconv.ParseInt(b, 10, 64)
		if err1 == nil && err2 == nil && e+1-s <= limit {
			return d
		}
		return 0
	}
}
