package source_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/worker/source"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// client returns a source client for the shared server (or an endpoint in
// front of it) with the admin identity.
func client(srv *testenv.S3Server, endpoint string, opt source.Options) *source.Client {
	opt.Endpoint = endpoint
	opt.Region = srv.Region
	return source.New(srv.AdminProvider(), opt)
}

func listAll(t *testing.T, c *source.Client, bucket, prefix, glob string) []string {
	t.Helper()
	var keys []string
	err := c.List(ctxT(t), bucket, prefix, glob, func(o source.ObjectInfo) error {
		if o.Bucket != bucket || o.ETag == "" || strings.Contains(o.ETag, `"`) || o.LastModified.IsZero() {
			t.Errorf("listed %+v: want bucket, unquoted ETag and LastModified", o)
		}
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestListPaginationAndGlobs(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	var want []string
	for i := 0; i < 23; i++ {
		k := fmt.Sprintf("data/2026/01/file-%02d.csv", i)
		srv.Put(t, bucket, k, []byte(k))
		want = append(want, k)
	}
	for _, k := range []string{"data/", "data/2026/", "data/2026/02/x.json", "data/2026/02/y.json.gz", "other/a.csv", "top.csv", "weird key with spaces+plus.csv"} {
		srv.Put(t, bucket, k, []byte(k))
	}

	rec := srv.RecordingProxy(t)
	c := client(srv, rec.Endpoint, source.Options{ListPageSize: 5})

	// Pagination: 23 keys under data/2026/01/ in pages of 5.
	got := listAll(t, c, bucket, "data/2026/01/", "")
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v\nwant %v", got, want)
	}
	var pages int
	for _, r := range rec.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Query, "list-type=2") {
			pages++
		}
	}
	if pages != 5 {
		t.Errorf("ListObjectsV2 pages = %d, want 5 (23 keys, 5 per page)", pages)
	}

	// Directory placeholders are skipped in a full listing.
	all := listAll(t, c, bucket, "", "")
	if len(all) != 28 {
		t.Errorf("full listing has %d keys, want 28 (30 minus 2 placeholders): %v", len(all), all)
	}
	for _, k := range all {
		if strings.HasSuffix(k, "/") {
			t.Errorf("placeholder %q listed", k)
		}
	}

	// Globs over the full key, with and without a prefix.
	cases := []struct {
		prefix, glob string
		want         int
		listPrefix   string // prefix sent to S3; "-" = no request
	}{
		{"", "data/**/*.csv", 23, "data/"},
		{"", "data/2026/0[12]/*.json", 1, "data/2026/0"},
		{"", "**/*.json", 1, ""},
		{"", "**/*.{json,json.gz}", 2, ""},
		{"data/2026/", "**/*.json*", 2, "data/2026/"},
		{"data/", "data/2026/01/file-1?.csv", 10, "data/2026/01/file-1"},
		{"", "*.csv", 2, ""},
		{"", "weird key with spaces+plus.csv", 1, "weird key with spaces+plus.csv"},
		{"other/", "data/*", 0, "-"},
		{"data/2026/01/file-0", "", 10, "data/2026/01/file-0"},
	}
	for _, tc := range cases {
		rec.Reset()
		got := listAll(t, c, bucket, tc.prefix, tc.glob)
		if len(got) != tc.want {
			t.Errorf("List(prefix %q, glob %q) = %d keys %v, want %d", tc.prefix, tc.glob, len(got), got, tc.want)
		}
		reqs := rec.Requests()
		if tc.listPrefix == "-" {
			if len(reqs) != 0 {
				t.Errorf("List(prefix %q, glob %q) sent %d requests, want none", tc.prefix, tc.glob, len(reqs))
			}
			continue
		}
		if len(reqs) == 0 {
			t.Fatalf("no requests recorded")
		}
		q := reqs[0].Query
		wantQ := "prefix=" + strings.ReplaceAll(queryEscape(tc.listPrefix), "+", "%20")
		if tc.listPrefix == "" {
			if strings.Contains(q, "prefix=") {
				t.Errorf("List(prefix %q, glob %q): query %q, want no prefix", tc.prefix, tc.glob, q)
			}
		} else if !strings.Contains(q, wantQ) {
			t.Errorf("List(prefix %q, glob %q): query %q, want %s", tc.prefix, tc.glob, q, wantQ)
		}
	}

	// An error from fn stops the listing and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := c.List(ctxT(t), bucket, "", "", func(source.ObjectInfo) error {
		n++
		if n == 7 {
			return stop
		}
		return nil
	})
	if err != stop || n != 7 {
		t.Errorf("List with fn error = %v after %d calls", err, n)
	}

	// A bad glob is a permanent error before any request.
	rec.Reset()
	err = c.List(ctxT(t), bucket, "", "data/[a-", func(source.ObjectInfo) error { return nil })
	if !errors.Is(err, source.ErrInvalidGlob) || !source.Classify(err).Permanent || len(rec.Requests()) != 0 {
		t.Errorf("bad glob: %v (%d requests)", err, len(rec.Requests()))
	}
}

func queryEscape(s string) string {
	r := strings.NewReplacer("/", "%2F", " ", "%20", "+", "%2B", "[", "%5B", "]", "%5D")
	return r.Replace(s)
}

func TestGlobMatching(t *testing.T) {
	cases := []struct {
		glob, key string
		want      bool
	}{
		{"", "anything/at/all", true},
		{"*.csv", "a.csv", true},
		{"*.csv", "dir/a.csv", false},
		{"**/*.csv", "a.csv", true},
		{"**/*.csv", "x/y/z/a.csv", true},
		{"**/*.csv", "x/y/z/a.csv.gz", false},
		{"**.csv", "x/a.csv", false}, // ** inside a segment is *
		{"data/**", "data/x/y", true},
		{"data/**", "database", false},
		{"data/*/part-?.parquet", "data/d=1/part-7.parquet", true},
		{"data/*/part-?.parquet", "data/d=1/part-17.parquet", false},
		{"logs/2026-0[1-3]-*.json", "logs/2026-02-14.json", true},
		{"logs/2026-0[1-3]-*.json", "logs/2026-04-01.json", false},
		{"logs/2026-0[!1-3]-*.json", "logs/2026-04-01.json", true},
		{"{a,b}/*.csv", "b/x.csv", true},
		{"{a,b}/*.csv", "c/x.csv", false},
		{`literal\*star`, "literal*star", true},
		{`literal\*star`, "literalXstar", false},
		{"exact/key.csv", "exact/key.csv", true},
		{"Case.CSV", "case.csv", false},
	}
	for _, c := range cases {
		got, err := source.MatchGlob(c.glob, c.key)
		if err != nil || got != c.want {
			t.Errorf("MatchGlob(%q, %q) = %v, %v; want %v", c.glob, c.key, got, err, c.want)
		}
	}
	if _, err := source.MatchGlob("[unclosed", "x"); !errors.Is(err, source.ErrInvalidGlob) {
		t.Errorf("bad pattern: %v", err)
	}

	prefixes := []struct{ glob, want string }{
		{"", ""},
		{"data/**/*.csv", "data/"},
		{"data/2026/0?/x", "data/2026/0"},
		{"logs/[ab]/x", "logs/"},
		{"a/{b,c}/d", "a/"},
		{`esc\*aped`, "esc"},
		{"plain/key.csv", "plain/key.csv"},
		{"*", ""},
	}
	for _, p := range prefixes {
		if got := source.GlobPrefix(p.glob); got != p.want {
			t.Errorf("GlobPrefix(%q) = %q, want %q", p.glob, got, p.want)
		}
	}
	lp := []struct {
		prefix, glob, want string
		ok                 bool
	}{
		{"", "", "", true},
		{"data/", "", "data/", true},
		{"", "data/*.csv", "data/", true},
		{"da", "data/*.csv", "data/", true},
		{"data/2026/", "data/*", "data/2026/", true},
		{"other/", "data/*", "", false},
	}
	for _, c := range lp {
		got, ok := source.ListPrefix(c.prefix, c.glob)
		if got != c.want || ok != c.ok {
			t.Errorf("ListPrefix(%q, %q) = %q, %v; want %q, %v", c.prefix, c.glob, got, ok, c.want, c.ok)
		}
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestOpenRangesAndReadAt(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	body := pattern(100_000)
	srv.Put(t, bucket, "bin/data.bin", body)
	srv.Put(t, bucket, "bin/empty", nil)
	rec := srv.RecordingProxy(t)
	c := client(srv, rec.Endpoint, source.Options{})
	ctx := ctxT(t)
	info, err := c.Head(ctx, bucket, "bin/data.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(body)) || info.ETag == "" || strings.Contains(info.ETag, `"`) {
		t.Fatalf("Head = %+v", info)
	}
	obj := c.Object(ctx, info)
	if obj.Name() != "s3://"+bucket+"/bin/data.bin" || obj.Size() != int64(len(body)) {
		t.Errorf("Name/Size = %s %d", obj.Name(), obj.Size())
	}
	read := func(off, n int64) ([]byte, error) {
		rc, err := obj.Open(ctx, off, n)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	cases := []struct {
		off, n    int64
		from, to  int
		wantRange string // Range header, "" = none, "-" = no request
	}{
		{0, -1, 0, len(body), ""},
		{0, 10, 0, 10, "bytes=0-9"},
		{12345, 1000, 12345, 13345, "bytes=12345-13344"},
		{99_990, -1, 99_990, len(body), "bytes=99990-"},
		{99_990, 100, 99_990, len(body), "bytes=99990-100089"}, // past the end: S3 clips
		{int64(len(body)), -1, 0, 0, "-"},
		{500, 0, 0, 0, "-"},
	}
	for _, tc := range cases {
		rec.Reset()
		got, err := read(tc.off, tc.n)
		if err != nil {
			t.Fatalf("Open(%d, %d): %v", tc.off, tc.n, err)
		}
		if !bytes.Equal(got, body[tc.from:tc.to]) {
			t.Errorf("Open(%d, %d): got %d bytes, want bytes [%d:%d]", tc.off, tc.n, len(got), tc.from, tc.to)
		}
		reqs := rec.Requests()
		switch {
		case tc.wantRange == "-":
			if len(reqs) != 0 {
				t.Errorf("Open(%d, %d) sent %d requests, want none", tc.off, tc.n, len(reqs))
			}
		case len(reqs) != 1:
			t.Errorf("Open(%d, %d) sent %d requests, want 1", tc.off, tc.n, len(reqs))
		case reqs[0].Range != tc.wantRange:
			t.Errorf("Open(%d, %d) Range %q, want %q", tc.off, tc.n, reqs[0].Range, tc.wantRange)
		}
	}

	// ReadAt: one ranged GET per call, io.EOF at the end.
	rec.Reset()
	p := make([]byte, 4096)
	n, err := obj.ReadAt(p, 50_000)
	if n != 4096 || err != nil || !bytes.Equal(p, body[50_000:54_096]) {
		t.Errorf("ReadAt middle: %d, %v", n, err)
	}
	n, err = obj.ReadAt(p, int64(len(body))-100)
	if n != 100 || err != io.EOF || !bytes.Equal(p[:100], body[len(body)-100:]) {
		t.Errorf("ReadAt tail: %d, %v; want 100, io.EOF", n, err)
	}
	n, err = obj.ReadAt(p, int64(len(body)))
	if n != 0 || err != io.EOF {
		t.Errorf("ReadAt at end: %d, %v", n, err)
	}
	if got := len(rec.Requests()); got != 2 {
		t.Errorf("ReadAt sent %d requests, want 2", got)
	}
	for _, r := range rec.Requests() {
		if !strings.HasPrefix(r.Range, "bytes=") {
			t.Errorf("ReadAt request without a range: %+v", r)
		}
	}
	// io.SectionReader over the ReaderAt reads the whole object.
	all, err := io.ReadAll(io.NewSectionReader(obj, 0, obj.Size()))
	if err != nil || !bytes.Equal(all, body) {
		t.Errorf("SectionReader: %d bytes, %v", len(all), err)
	}

	// An empty object.
	einfo, err := c.Head(ctx, bucket, "bin/empty", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(mustOpen(t, c.Object(ctx, einfo), 0, -1)); err != nil || len(got) != 0 {
		t.Errorf("empty object: %q, %v", got, err)
	}

	// ReadAt honours the Object's context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Object(cctx, info).ReadAt(p, 0)
	if cl := source.Classify(err); err == nil || cl.Kind != source.KindCanceled || cl.Permanent {
		t.Errorf("ReadAt with a cancelled context: %v (%+v)", err, cl)
	}
	if _, err := obj.WithContext(cctx).ReadAt(p, 0); err == nil {
		t.Errorf("WithContext(cancelled).ReadAt succeeded")
	}
}

func mustOpen(t *testing.T, o *source.Object, off, n int64) io.Reader {
	t.Helper()
	rc, err := o.Open(ctxT(t), off, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

func TestIfMatchChangedObject(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "k.csv", []byte("a,b\n1,2\n"))
	c := client(srv, srv.Endpoint, source.Options{})
	ctx := ctxT(t)
	var info source.ObjectInfo
	if err := c.List(ctx, bucket, "", "", func(o source.ObjectInfo) error { info = o; return nil }); err != nil {
		t.Fatal(err)
	}
	obj := c.Object(ctx, info)
	if got, _ := io.ReadAll(mustOpen(t, obj, 0, -1)); string(got) != "a,b\n1,2\n" {
		t.Fatalf("before overwrite: %q", got)
	}
	srv.Put(t, bucket, "k.csv", []byte("x,y\n9,9\n"))

	_, err := obj.Open(ctx, 0, -1)
	if !errors.Is(err, source.ErrChanged) {
		t.Fatalf("Open after overwrite: %v, want ErrChanged", err)
	}
	cl := source.Classify(err)
	if cl.Kind != source.KindChanged || cl.Permanent || !strings.Contains(cl.Message, "s3://"+bucket+"/k.csv") {
		t.Errorf("Classify = %+v", cl)
	}
	if _, err := obj.ReadAt(make([]byte, 4), 2); !errors.Is(err, source.ErrChanged) {
		t.Errorf("ReadAt after overwrite: %v, want ErrChanged", err)
	}
}

func TestVersionPinnedRead(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	srv.EnableVersioning(t, bucket)
	v1, _ := srv.Put(t, bucket, "v.json", []byte(`{"v":1}`))
	if v1 == "" {
		t.Fatal("no version ID from a versioned bucket")
	}
	c := client(srv, srv.Endpoint, source.Options{})
	ctx := ctxT(t)
	info, err := c.Head(ctx, bucket, "v.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if info.VersionID != v1 {
		t.Fatalf("Head version %q, want %q", info.VersionID, v1)
	}
	srv.Put(t, bucket, "v.json", []byte(`{"v":2}`))
	// The listed version still reads, although it is no longer current.
	got, err := io.ReadAll(mustOpen(t, c.Object(ctx, info), 0, -1))
	if err != nil || string(got) != `{"v":1}` {
		t.Errorf("pinned version: %q, %v", got, err)
	}
	old, err := c.Head(ctx, bucket, "v.json", v1)
	if err != nil || old.ETag != info.ETag {
		t.Errorf("Head(version) = %+v, %v", old, err)
	}
	// A version ID that does not exist is permanent.
	_, err = c.Object(ctx, source.ObjectInfo{Bucket: bucket, Key: "v.json", VersionID: "nonexistent-version", Size: -1}).Open(ctx, 0, -1)
	if cl := source.Classify(err); err == nil || !cl.Permanent {
		t.Errorf("missing version: %v (%+v)", err, cl)
	}
}

func TestRetriedThenTransient503(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "flaky.csv", []byte("ok"))
	srv.Put(t, bucket, "down.csv", []byte("never"))
	var flaky, down atomic.Int32
	ep := srv.FaultProxy(t, func(r *http.Request) (int, bool) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/flaky.csv") && r.Method == http.MethodGet:
			return 503, flaky.Add(1) <= 2 // fail twice, then pass
		case strings.HasSuffix(r.URL.Path, "/down.csv"):
			down.Add(1)
			return 503, true
		case r.URL.Query().Has("list-type"):
			return testenv.FaultReset, true
		}
		return 0, false
	})
	c := client(srv, ep, source.Options{RetryMaxAttempts: 3})
	ctx := ctxT(t)

	got, err := io.ReadAll(mustOpen(t, c.Object(ctx, source.ObjectInfo{Bucket: bucket, Key: "flaky.csv", Size: 2}), 0, -1))
	if err != nil || string(got) != "ok" {
		t.Fatalf("flaky: %q, %v", got, err)
	}
	if n := flaky.Load(); n != 3 {
		t.Errorf("flaky.csv requests = %d, want 3 (2 × 503, then 200)", n)
	}

	_, err = c.Object(ctx, source.ObjectInfo{Bucket: bucket, Key: "down.csv", Size: 5}).Open(ctx, 0, -1)
	if err == nil {
		t.Fatal("down.csv opened")
	}
	cl := source.Classify(err)
	if cl.Permanent || cl.Kind != source.KindThrottled || !strings.Contains(cl.Message, "s3://"+bucket+"/down.csv") || !strings.Contains(cl.Message, "SlowDown") {
		t.Errorf("503 after retries: %+v (err %v)", cl, err)
	}
	if n := down.Load(); n != 3 {
		t.Errorf("down.csv requests = %d, want 3 attempts", n)
	}

	// Connection resets while listing: transient network error.
	err = c.List(ctx, bucket, "", "", func(source.ObjectInfo) error { return nil })
	if cl := source.Classify(err); err == nil || cl.Permanent || cl.Kind != source.KindNetwork {
		t.Errorf("reset during list: %v (%+v)", err, cl)
	}
}

func TestTruncatedBodyIsTransient(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "big.bin", pattern(1<<20))
	ep := srv.FaultProxy(t, func(r *http.Request) (int, bool) {
		return testenv.FaultTruncate, r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/big.bin")
	})
	c := client(srv, ep, source.Options{})
	ctx := ctxT(t)
	obj := c.Object(ctx, source.ObjectInfo{Bucket: bucket, Key: "big.bin", Size: 1 << 20})
	rc, err := obj.Open(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	cl := source.Classify(err)
	if err == nil || cl.Permanent || !strings.Contains(err.Error(), "s3://"+bucket+"/big.bin") {
		t.Errorf("truncated body: %v (%+v)", err, cl)
	}
	_, err = obj.ReadAt(make([]byte, 1<<20), 0)
	if cl := source.Classify(err); err == nil || cl.Permanent {
		t.Errorf("truncated ReadAt: %v (%+v)", err, cl)
	}
}

func TestMissingBucketAndKey(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	c := client(srv, srv.Endpoint, source.Options{RetryMaxAttempts: 1})
	ctx := ctxT(t)
	missing := "no-such-bucket-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))

	err := c.List(ctx, missing, "", "", func(source.ObjectInfo) error { return nil })
	cl := source.Classify(err)
	if !cl.Permanent || cl.Kind != source.KindNoSuchBucket || !strings.Contains(cl.Message, "bucket "+missing+" does not exist") {
		t.Errorf("List(missing bucket): %+v (err %v)", cl, err)
	}

	_, err = c.Object(ctx, source.ObjectInfo{Bucket: bucket, Key: "gone.csv", Size: -1}).Open(ctx, 0, -1)
	cl = source.Classify(err)
	if !cl.Permanent || cl.Kind != source.KindNotFound || !strings.Contains(cl.Message, "object s3://"+bucket+"/gone.csv does not exist") || !strings.Contains(cl.Message, "NoSuchKey") {
		t.Errorf("Open(missing key): %+v (err %v)", cl, err)
	}

	_, err = c.Head(ctx, bucket, "gone.csv", "")
	cl = source.Classify(err)
	if !cl.Permanent || cl.Kind != source.KindNotFound || !strings.Contains(cl.Message, "s3://"+bucket+"/gone.csv") {
		t.Errorf("Head(missing key): %+v (err %v)", cl, err)
	}
}

func TestBadCredentials(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "k", []byte("x"))
	ctx := ctxT(t)
	for name, creds := range map[string]aws.CredentialsProvider{
		"unknown key":  credentials.NewStaticCredentialsProvider("AKIAUNKNOWNKEY000000", "whatever", ""),
		"wrong secret": credentials.NewStaticCredentialsProvider(testenv.ReaderAccessKey, "not-the-secret", ""),
	} {
		c := source.New(creds, source.Options{Endpoint: srv.Endpoint, Region: srv.Region, RetryMaxAttempts: 1})
		_, err := c.Object(ctx, source.ObjectInfo{Bucket: bucket, Key: "k", Size: 1}).Open(ctx, 0, -1)
		cl := source.Classify(err)
		if !cl.Permanent || cl.Kind != source.KindCredentials || !strings.Contains(cl.Message, "credentials rejected") {
			t.Errorf("%s: %+v (err %v)", name, cl, err)
		}
	}
}

// TestAccessDenied runs a dedicated SeaweedFS whose "lister" identity and
// "listonly" role may list but not read.
func TestAccessDenied(t *testing.T) {
	cfg := testenv.DefaultS3Config()
	cfg.Identities = append(cfg.Identities, testenv.Identity{Name: "lister", AccessKey: "AKIATESTLISTER000001", SecretKey: "listerSecret000000000000000000000000000", Actions: []string{"List"}})
	const roleARN = "arn:aws:iam::000000000000:role/listonly"
	cfg.Policies = append(cfg.Policies, testenv.Policy{Name: "listonly", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::*"]}]}`})
	cfg.Roles = append(cfg.Roles, testenv.Role{ARN: roleARN, TrustPolicy: testenv.TrustPolicyFor(testenv.PlatformUserARN, "ext-123"), Policies: []string{"listonly"}})
	srv := testenv.StartS3(t, cfg)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "secret/data.csv", []byte("a\n1\n"))
	ctx := ctxT(t)

	roleCreds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(srv.STSClient(t, nil), roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String("ext-123")
	}))
	for name, creds := range map[string]aws.CredentialsProvider{
		"static identity": credentials.NewStaticCredentialsProvider("AKIATESTLISTER000001", "listerSecret000000000000000000000000000", ""),
		"assumed role":    roleCreds,
	} {
		t.Run(name, func(t *testing.T) {
			c := source.New(creds, source.Options{Endpoint: srv.Endpoint, Region: srv.Region, RetryMaxAttempts: 1})
			var infos []source.ObjectInfo
			if err := c.List(ctx, bucket, "secret/", "", func(o source.ObjectInfo) error { infos = append(infos, o); return nil }); err != nil || len(infos) != 1 {
				t.Fatalf("List: %v, %d objects", err, len(infos))
			}
			_, err := c.Object(ctx, infos[0]).Open(ctx, 0, -1)
			cl := source.Classify(err)
			if !cl.Permanent || cl.Kind != source.KindAccessDenied ||
				!strings.HasPrefix(cl.Message, "access denied to s3://"+bucket+"/secret/data.csv") ||
				!strings.Contains(cl.Fix, "s3:GetObject") || !strings.Contains(cl.Fix, "arn:aws:s3:::"+bucket+"/secret/data.csv") {
				t.Errorf("GetObject denied: %+v (err %v)", cl, err)
			}
			_, err = c.Head(ctx, bucket, "secret/data.csv", "")
			if cl := source.Classify(err); !cl.Permanent || cl.Kind != source.KindAccessDenied || !strings.Contains(cl.Message, "Forbidden") {
				t.Errorf("HeadObject denied: %+v (err %v)", cl, err)
			}
		})
	}
}

func TestAssumeRoleFailureNestedInS3Error(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "k.csv", []byte("x"))
	ctx := ctxT(t)
	assume := func(stsEndpoint, externalID string) aws.CredentialsProvider {
		stsc := srv.STSClientAt(t, stsEndpoint, nil)
		return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, testenv.ReaderRoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(externalID)
		}))
	}
	list := func(creds aws.CredentialsProvider) error {
		c := source.New(creds, source.Options{Endpoint: srv.Endpoint, Region: srv.Region, RetryMaxAttempts: 1})
		return c.List(ctx, bucket, "", "", func(source.ObjectInfo) error { return nil })
	}

	// The right External ID works.
	if err := list(assume(srv.STSEndpoint, testenv.ReaderRoleExternalID)); err != nil {
		t.Fatalf("assumed role with the right External ID: %v", err)
	}

	// A wrong External ID: STS says AccessDenied inside the S3 call's error.
	err := list(assume(srv.STSEndpoint, "wrong-external-id"))
	cl := source.Classify(err)
	if !cl.Permanent || cl.Kind != source.KindAssumeRole || !strings.HasPrefix(cl.Message, "credentials for ListObjectsV2 s3://"+bucket+" could not be obtained") ||
		!strings.Contains(cl.Message, "AccessDenied") || strings.Contains(cl.Message, "access denied to s3://") {
		t.Errorf("wrong External ID: %+v (err %v)", cl, err)
	}

	// STS unavailable: transient, still reported as an STS problem.
	ep := srv.STSFaultProxy(t, func(*http.Request) (int, bool) { return 503, true })
	err = list(assume(ep, testenv.ReaderRoleExternalID))
	cl = source.Classify(err)
	if cl.Permanent || cl.Kind != source.KindAssumeRole || !strings.HasPrefix(cl.Message, "credentials for ListObjectsV2") {
		t.Errorf("STS 503: %+v (err %v)", cl, err)
	}

	// A provider that is not STS.
	bad := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("credential instance cred-42 not found")
	})
	err = list(bad)
	cl = source.Classify(err)
	if !cl.Permanent || cl.Kind != source.KindCredentials || !strings.Contains(cl.Message, "cred-42 not found") {
		t.Errorf("failing provider: %+v (err %v)", cl, err)
	}
}

func TestBucketRegion(t *testing.T) {
	srv := testenv.S3(t)
	bucket := srv.UniqueBucket(t)
	rec := srv.RecordingProxy(t)
	ctx := ctxT(t)

	// Custom endpoint: the configured region, no request.
	c := source.New(srv.AdminProvider(), source.Options{Endpoint: rec.Endpoint, Region: "eu-west-3"})
	if r, err := c.BucketRegion(ctx, bucket); r != "eu-west-3" || err != nil {
		t.Errorf("custom endpoint region = %q, %v", r, err)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("custom endpoint: %d requests", n)
	}

	// The AWS path (no Endpoint), pointed at the test server through
	// APIOptions: one HeadBucket per bucket, shared through a RegionCache.
	cache := source.NewRegionCache(time.Hour)
	aws := func() *source.Client {
		return source.New(srv.AdminProvider(), source.Options{Regions: cache, APIOptions: []func(*s3.Options){func(o *s3.Options) {
			o.BaseEndpoint = &rec.Endpoint
			o.UsePathStyle = true
			o.RequestChecksumCalculation = 2 // WhenRequired
			o.ResponseChecksumValidation = 2
		}}})
	}
	srv.Put(t, bucket, "k", []byte("v"))
	if r, err := aws().BucketRegion(ctx, bucket); err != nil || r == "" {
		t.Fatalf("BucketRegion = %q, %v", r, err)
	}
	rec.Reset()
	for i := 0; i < 3; i++ {
		c := aws()
		r, err := c.BucketRegion(ctx, bucket)
		if err != nil || r == "" {
			t.Fatalf("BucketRegion = %q, %v", r, err)
		}
		if _, err := c.Head(ctx, bucket, "k", ""); err != nil {
			t.Fatal(err)
		}
	}
	var heads int
	for _, r := range rec.Requests() {
		if r.Method == http.MethodHead && strings.TrimSuffix(r.Path, "/") == "/"+bucket {
			heads++
		}
	}
	if heads != 0 {
		t.Errorf("HeadBucket requests after the first lookup = %d, want 0 (cached)", heads)
	}
	_, err := aws().BucketRegion(ctx, "no-such-bucket-region-test")
	if cl := source.Classify(err); !cl.Permanent || cl.Kind != source.KindNoSuchBucket {
		t.Errorf("region of a missing bucket: %+v (err %v)", cl, err)
	}
}
