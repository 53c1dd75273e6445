package testenv_test

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
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// errorCode returns the API error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestRedis(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Fatalf("URL() = %q", r.URL())
	}
	c := r.Client(t)
	if got, err := c.Ping(ctx(t)).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if err := c.Set(ctx(t), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	r.Stop()
	r.Stop() // idempotent
	if err := c.Ping(ctx(t)).Err(); err == nil {
		t.Fatal("PING succeeded after Stop")
	}

	r.Restart(t)
	if got, err := c.Ping(ctx(t)).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING after Restart = %q, %v", got, err)
	}
	if n, err := c.Exists(ctx(t), "k").Result(); err != nil || n != 0 {
		t.Fatalf("restarted server should be empty: Exists = %d, %v", n, err)
	}
}

func TestRedisInstancesAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := testenv.Redis(t), testenv.Redis(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers share %s", a.Addr)
	}
	if err := a.Client(t).Set(ctx(t), "only-a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Client(t).Exists(ctx(t), "only-a").Result(); n != 0 {
		t.Fatal("key leaked between servers")
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	conn, err := pgx.Connect(ctx(t), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(ctx(t), "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("fresh database has %d tables (%v)", tables, err)
	}
	if _, err := conn.Exec(ctx(t), "CREATE TABLE rows (id bigint PRIMARY KEY, name text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx(t), "INSERT INTO rows VALUES (1, 'a'), (2, 'b')"); err != nil {
		t.Fatal(err)
	}
	var n int
	var names string
	if err := conn.QueryRow(ctx(t), "SELECT count(*), string_agg(name, ',' ORDER BY id) FROM rows").Scan(&n, &names); err != nil {
		t.Fatal(err)
	}
	if n != 2 || names != "a,b" {
		t.Fatalf("got %d rows %q", n, names)
	}
	if other := testenv.Postgres(t); other == dsn {
		t.Fatal("second Postgres call returned the same database")
	}
}

func TestS3AdminCRUD(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	if s.Region != "us-east-1" || s.Admin.AccessKeyID != testenv.AdminAccessKey {
		t.Fatalf("unexpected server fields: %+v", s)
	}
	bucket := s.UniqueBucket(t)
	if strings.ToLower(bucket) != bucket || len(bucket) > 63 {
		t.Fatalf("bad bucket name %q", bucket)
	}
	_, etag := s.Put(t, bucket, "dir/a.csv", []byte("a,b\n1,2\n"))
	if etag == "" {
		t.Fatal("Put returned no ETag")
	}
	c := s.Client(t, nil)
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/a.csv"), Range: aws.String("bytes=4-")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "1,2\n" {
		t.Fatalf("ranged GET = %q", body)
	}
	list, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("dir/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "dir/a.csv" || aws.ToString(list.Contents[0].ETag) != etag {
		t.Fatalf("list = %+v", list.Contents)
	}
	_, err = c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	if code := errorCode(err); code != "NoSuchKey" {
		t.Fatalf("GetObject missing key: code %q, err %v", code, err)
	}
}

func TestS3StaticReader(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	bucket := s.UniqueBucket(t)
	s.Put(t, bucket, "k", []byte("v"))
	c := s.Client(t, testenv.ReaderIdentity.Provider())

	if _, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("reader ListObjectsV2: %v", err)
	}
	if _, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")}); err != nil {
		t.Fatalf("reader GetObject: %v", err)
	}
	_, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("x"), Body: strings.NewReader("x")})
	if code := errorCode(err); code != "AccessDenied" {
		t.Fatalf("reader PutObject: code %q, err %v", code, err)
	}
	// the platform principal has no S3 actions of its own
	_, err = s.Client(t, testenv.PlatformIdentity.Provider()).GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	if code := errorCode(err); code != "AccessDenied" {
		t.Fatalf("platform GetObject: code %q, err %v", code, err)
	}
}

func TestAssumeRoleExternalID(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	bucket := s.UniqueBucket(t)
	s.Put(t, bucket, "data.csv", []byte("x\n1\n"))

	tests := []struct {
		name       string
		creds      aws.CredentialsProvider
		role       string
		externalID *string
		duration   int32
		wantCode   string // "" = success
	}{
		{name: "right external id", role: testenv.ReaderRoleARN, externalID: aws.String(testenv.ReaderRoleExternalID), duration: 900},
		{name: "wrong external id", role: testenv.ReaderRoleARN, externalID: aws.String("test-external-id-wrong"), wantCode: "AccessDenied"},
		{name: "missing external id", role: testenv.ReaderRoleARN, wantCode: "AccessDenied"},
		{name: "untrusted principal", creds: testenv.ReaderIdentity.Provider(), role: testenv.ReaderRoleARN, externalID: aws.String(testenv.ReaderRoleExternalID), wantCode: "AccessDenied"},
		{name: "role in another account", role: "arn:aws:iam::123456789012:role/s3ingest-reader", externalID: aws.String(testenv.ReaderRoleExternalID), wantCode: "AccessDenied"},
		{name: "unknown role", role: "arn:aws:iam::000000000000:role/nope", externalID: aws.String(testenv.ReaderRoleExternalID), wantCode: "AccessDenied"},
		{name: "bad secret", creds: credentials.NewStaticCredentialsProvider(testenv.PlatformAccessKey, "wrong-secret", ""), role: testenv.ReaderRoleARN, externalID: aws.String(testenv.ReaderRoleExternalID), wantCode: "SignatureDoesNotMatch"},
		{name: "bad secret and wrong external id", creds: credentials.NewStaticCredentialsProvider(testenv.PlatformAccessKey, "wrong-secret", ""), role: testenv.ReaderRoleARN, externalID: aws.String("wrong"), wantCode: "SignatureDoesNotMatch"},
		{name: "duration below 900", role: testenv.ReaderRoleARN, externalID: aws.String(testenv.ReaderRoleExternalID), duration: 899, wantCode: "InvalidParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			session := "testenv-" + strings.ReplaceAll(tc.name, " ", "-")
			before := len(callsFor(s, session))
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tc.role), RoleSessionName: aws.String(session), ExternalId: tc.externalID}
			if tc.duration != 0 {
				in.DurationSeconds = aws.Int32(tc.duration)
			}
			start := time.Now()
			out, err := s.STSClient(t, tc.creds, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).AssumeRole(ctx(t), in)
			if n := len(callsFor(s, session)) - before; n != 1 {
				t.Errorf("STS proxy saw %d AssumeRole calls, want 1", n)
			}
			if tc.wantCode != "" {
				if code := errorCode(err); code != tc.wantCode {
					t.Fatalf("AssumeRole: code %q, want %q (err %v)", code, tc.wantCode, err)
				}
				var re interface{ HTTPStatusCode() int }
				if errors.As(err, &re) && tc.wantCode != "InvalidParameterValue" && re.HTTPStatusCode() != http.StatusForbidden {
					t.Errorf("HTTP status %d, want 403", re.HTTPStatusCode())
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			cr := out.Credentials
			if !strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA") || aws.ToString(cr.SessionToken) == "" {
				t.Fatalf("temp creds: key %q, token %d bytes", aws.ToString(cr.AccessKeyId), len(aws.ToString(cr.SessionToken)))
			}
			if d := cr.Expiration.Sub(start); d < 14*time.Minute || d > 16*time.Minute {
				t.Fatalf("DurationSeconds=900 gave expiry in %v", d)
			}
			tmp := credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
			c := s.Client(t, tmp)
			if _, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
				t.Fatalf("temp creds ListObjectsV2: %v", err)
			}
			get, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("data.csv"), Range: aws.String("bytes=0-1")})
			if err != nil {
				t.Fatalf("temp creds GetObject: %v", err)
			}
			b, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if string(b) != "x\n" {
				t.Fatalf("temp creds ranged GET = %q", b)
			}
			_, err = c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("evil"), Body: strings.NewReader("x")})
			if code := errorCode(err); code != "AccessDenied" {
				t.Fatalf("temp creds PutObject: code %q, err %v", code, err)
			}
			// a forged session token with the same keys is rejected
			bogus := credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), "bogus-"+aws.ToString(cr.SessionToken)[6:])
			_, err = s.Client(t, bogus, func(o *s3.Options) { o.RetryMaxAttempts = 1 }).ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
			if err == nil {
				t.Fatal("bogus session token accepted")
			}
			t.Logf("bogus session token: code %q", errorCode(err))
		})
	}
}

func callsFor(s *testenv.S3Server, session string) []testenv.AssumeRoleCall {
	var out []testenv.AssumeRoleCall
	for _, c := range s.AssumeRoleLog() {
		if c.SessionName == session {
			out = append(out, c)
		}
	}
	return out
}

// The SDK's credential cache over stscreds makes one STS call; the proxy
// counts it.
func TestAssumeRoleProviderThroughProxy(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	bucket := s.UniqueBucket(t)
	s.Put(t, bucket, "a", []byte("a"))
	session := fmt.Sprintf("testenv-provider-%d", time.Now().UnixNano())
	provider := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(s.STSClient(t, nil), testenv.ReaderRoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(testenv.ReaderRoleExternalID)
		o.RoleSessionName = session
	}))
	c := s.Client(t, provider)
	before := s.AssumeRoleCalls()
	for i := 0; i < 3; i++ {
		if _, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("a")}); err != nil {
			t.Fatal(err)
		}
	}
	if s.AssumeRoleCalls() <= before {
		t.Fatal("AssumeRoleCalls did not grow")
	}
	if n := len(callsFor(s, session)); n != 1 {
		t.Fatalf("%d AssumeRole calls for this session, want 1", n)
	}
	call := callsFor(s, session)[0]
	if call.AccessKeyID != testenv.PlatformAccessKey || call.ExternalID != testenv.ReaderRoleExternalID || call.Status != 200 || call.DeniedByProxy {
		t.Fatalf("logged call = %+v", call)
	}
}

func TestVersioning(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	bucket := s.UniqueBucket(t)
	s.EnableVersioning(t, bucket)
	v1, e1 := s.Put(t, bucket, "obj", []byte("first"))
	v2, e2 := s.Put(t, bucket, "obj", []byte("second"))
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("version IDs %q, %q", v1, v2)
	}
	if e1 == e2 {
		t.Fatalf("same ETag %q for different content", e1)
	}
	c := s.Client(t, nil)
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("obj"), VersionId: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "first" || aws.ToString(out.VersionId) != v1 {
		t.Fatalf("GET version %s = %q (version %q)", v1, b, aws.ToString(out.VersionId))
	}
	head, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.VersionId) != v2 || aws.ToString(head.ETag) != e2 {
		t.Fatalf("HEAD latest: version %q etag %q, want %q %q", aws.ToString(head.VersionId), aws.ToString(head.ETag), v2, e2)
	}
	vs, err := c.ListObjectVersions(ctx(t), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 2 {
		t.Fatalf("ListObjectVersions: %d versions", len(vs.Versions))
	}
	// temp creds of the reader role may read an old version (s3:GetObjectVersion)
	a, err := s.STSClient(t, nil).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String(testenv.ReaderRoleARN), RoleSessionName: aws.String("testenv-versions"), ExternalId: aws.String(testenv.ReaderRoleExternalID),
	})
	if err != nil {
		t.Fatal(err)
	}
	tmp := credentials.NewStaticCredentialsProvider(aws.ToString(a.Credentials.AccessKeyId), aws.ToString(a.Credentials.SecretAccessKey), aws.ToString(a.Credentials.SessionToken))
	if _, err := s.Client(t, tmp).GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("obj"), VersionId: aws.String(v1)}); err != nil {
		t.Fatalf("role GetObject by version: %v", err)
	}
}

func TestFaultProxy(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	bucket := s.UniqueBucket(t)
	payload := bytes.Repeat([]byte("0123456789"), 10000)
	s.Put(t, bucket, "big", payload)
	s.Put(t, bucket, "small", []byte("ok"))

	var mode atomic.Int32 // 0 pass, 1 503, 2 reset, 3 truncate
	ep := s.FaultProxy(t, func(r *http.Request) (int, bool) {
		if !strings.HasPrefix(r.URL.Path, "/"+bucket+"/") {
			return 0, false
		}
		switch mode.Load() {
		case 1:
			return http.StatusServiceUnavailable, true
		case 2:
			return testenv.FaultReset, true
		case 3:
			return testenv.FaultTruncate, true
		}
		return 0, false
	})
	c := s.ClientAt(t, ep, nil, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	get := func(key string) ([]byte, error) {
		out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}

	if b, err := get("small"); err != nil || string(b) != "ok" {
		t.Fatalf("pass-through GET = %q, %v", b, err)
	}
	mode.Store(1)
	_, err := get("small")
	if code := errorCode(err); code != "SlowDown" {
		t.Fatalf("503: code %q, err %v", code, err)
	}
	mode.Store(2)
	if _, err := get("small"); err == nil {
		t.Fatal("reset: no error")
	}
	mode.Store(3)
	if b, err := get("big"); err == nil || len(b) >= len(payload) {
		t.Fatalf("truncate: read %d of %d bytes, err %v", len(b), len(payload), err)
	} else {
		t.Logf("truncate: read %d of %d bytes: %v", len(b), len(payload), err)
	}
	mode.Store(0)
	if b, err := get("big"); err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("after faults GET = %d bytes, %v", len(b), err)
	}

	var mine []testenv.RecordedRequest
	for _, r := range s.Requests() {
		if r.Proxy == ep {
			mine = append(mine, r)
		}
	}
	// net/http's transport itself retries an idempotent GET once when a
	// reused connection is reset before any response: expect 1 or 2 resets.
	var got []int
	for i, r := range mine {
		if r.Method != http.MethodGet || r.AccessKeyID != testenv.AdminAccessKey {
			t.Errorf("request %d = %+v", i, r)
		}
		if r.Injected != (r.Status != 200) {
			t.Errorf("request %d: Injected=%v with status %d", i, r.Injected, r.Status)
		}
		if len(got) == 0 || got[len(got)-1] != r.Status || r.Status != testenv.FaultReset {
			got = append(got, r.Status)
		}
	}
	want := []int{200, 503, testenv.FaultReset, testenv.FaultTruncate, 200}
	if len(got) != len(want) {
		t.Fatalf("recorded statuses %v, want %v (%d requests)", got, want, len(mine))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("recorded statuses %v, want %v", got, want)
		}
	}
}

func TestRecordingProxy(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	bucket := s.UniqueBucket(t)
	s.Put(t, bucket, "k", []byte("hello world"))
	rp := s.RecordingProxy(t)
	c := s.ClientAt(t, rp.Endpoint, testenv.ReaderIdentity.Provider())
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Range: aws.String("bytes=6-10")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "world" {
		t.Fatalf("ranged GET through proxy = %q", b)
	}
	reqs := rp.Requests()
	if len(reqs) != 1 || reqs[0].Range != "bytes=6-10" || reqs[0].Path != "/"+bucket+"/k" || reqs[0].AccessKeyID != testenv.ReaderAccessKey || reqs[0].Status != 206 {
		t.Fatalf("recorded %+v", reqs)
	}
}

func TestSTSFaultProxy(t *testing.T) {
	t.Parallel()
	s := testenv.S3(t)
	var fail atomic.Bool
	fail.Store(true)
	ep := s.STSFaultProxy(t, func(r *http.Request) (int, bool) { return http.StatusServiceUnavailable, fail.Load() })
	c := s.STSClientAt(t, ep, nil, func(o *sts.Options) { o.RetryMaxAttempts = 1 })
	in := &sts.AssumeRoleInput{RoleArn: aws.String(testenv.ReaderRoleARN), RoleSessionName: aws.String("testenv-sts-fault"), ExternalId: aws.String(testenv.ReaderRoleExternalID)}
	_, err := c.AssumeRole(ctx(t), in)
	if code := errorCode(err); code != "ServiceUnavailable" {
		t.Fatalf("injected 503: code %q, err %v", code, err)
	}
	fail.Store(false)
	if _, err := c.AssumeRole(ctx(t), in); err != nil {
		t.Fatalf("after fault: %v", err)
	}
	in.ExternalId = aws.String("wrong")
	if _, err := c.AssumeRole(ctx(t), in); errorCode(err) != "AccessDenied" {
		t.Fatalf("External ID check behind fault proxy: %v", err)
	}
}

// A dedicated instance with a custom config: a role whose External ID comes
// only from its trust policy condition, a role without one, a custom identity.
func TestStartS3CustomConfig(t *testing.T) {
	t.Parallel()
	caller := testenv.Identity{Name: "svc", AccessKey: "AKIATESTENVSVC000001", SecretKey: "svc-secret-0000000000000000000000000000"}
	const condRole = "arn:aws:iam::000000000000:role/cond"
	const openRole = "arn:aws:iam::000000000000:role/open"
	s := testenv.StartS3(t, testenv.S3Config{
		Identities: []testenv.Identity{caller},
		Roles: []testenv.Role{
			{ARN: condRole, TrustPolicy: testenv.TrustPolicyFor(caller.ARN(), "cond-external-id-1234567890"), Policies: []string{"list"}},
			{ARN: openRole, TrustPolicy: testenv.TrustPolicyFor(caller.ARN(), ""), Policies: []string{"list"}},
		},
		Policies:      []testenv.Policy{{Name: "list", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::*"]}]}`}},
		TokenDuration: 30 * time.Minute,
	})
	if s == testenv.S3(t) {
		t.Fatal("StartS3 returned the shared instance")
	}
	bucket := s.UniqueBucket(t)
	c := s.STSClient(t, caller.Provider(), func(o *sts.Options) { o.RetryMaxAttempts = 1 })
	assume := func(role string, ext *string) (*sts.AssumeRoleOutput, error) {
		return c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("custom"), ExternalId: ext})
	}
	if _, err := assume(condRole, nil); errorCode(err) != "AccessDenied" {
		t.Fatalf("cond role without External ID: %v", err)
	}
	if _, err := assume(condRole, aws.String("cond-external-id-1234567890")); err != nil {
		t.Fatalf("cond role with External ID: %v", err)
	}
	start := time.Now()
	out, err := assume(openRole, nil)
	if err != nil {
		t.Fatalf("open role: %v", err)
	}
	if d := out.Credentials.Expiration.Sub(start); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("TokenDuration 30m gave expiry in %v", d)
	}
	tmp := credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	if _, err := s.Client(t, tmp).ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("open role ListObjectsV2: %v", err)
	}
	if s.AssumeRoleCalls() != 3 {
		t.Fatalf("AssumeRoleCalls = %d, want 3", s.AssumeRoleCalls())
	}
}
