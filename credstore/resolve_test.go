package credstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

// uniqueWorkspace returns a workspace ID unique to this test run, so calls
// in the shared STS proxy's log can be told apart by session name.
func uniqueWorkspace(t *testing.T) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return s + "-" + credstore.GenerateExternalID()[:8]
}

// forceExternalID overwrites an integration's External ID in Redis, as if
// the customer's trust policy had been written for that value (the shared
// SeaweedFS role demands testenv.ReaderRoleExternalID).
func forceExternalID(t *testing.T, rdb *redis.Client, ws, id string) {
	t.Helper()
	key := "s3ingest:ws:{" + ws + "}:integration"
	if err := rdb.HSet(testCtx(t), key, "external_id", id, "revision", "forced-"+id).Err(); err != nil {
		t.Fatal(err)
	}
}

func newResolver(t *testing.T, s *credstore.Store, srv *testenv.S3Server, mod func(*credstore.ResolverConfig)) *credstore.Resolver {
	t.Helper()
	cfg := credstore.ResolverConfig{Store: s, STS: srv.STSClient(t, nil)}
	if mod != nil {
		mod(&cfg)
	}
	r, err := credstore.NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runResolver runs r.Run until the test ends.
func runResolver(t *testing.T, r *credstore.Resolver) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// assumeCalls counts the STS proxy's AssumeRole calls for a workspace.
func assumeCalls(srv *testenv.S3Server, r *credstore.Resolver, ws string) int {
	name := r.SessionName(ws)
	n := 0
	for _, c := range srv.AssumeRoleLog() {
		if c.SessionName == name {
			n++
		}
	}
	return n
}

// integrationOnShared creates an integration for the shared SeaweedFS role
// with the External ID its trust policy demands.
func integrationOnShared(t *testing.T, s *credstore.Store, rdb *redis.Client, ws string) {
	t.Helper()
	if _, err := s.CreateIntegration(testCtx(t), ws, testenv.ReaderRoleARN); err != nil {
		t.Fatal(err)
	}
	forceExternalID(t, rdb, ws, testenv.ReaderRoleExternalID)
}

func readObject(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func TestResolveWithoutIntegrationOrCredential(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := testCtx(t)
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(ctx, "ws-empty", "")
	if !errors.Is(err, credstore.ErrNoCredentials) || !credstore.IsPermanent(err) ||
		!strings.Contains(err.Error(), "create an AWS integration for the workspace") || !strings.Contains(err.Error(), "store access keys as a credential instance") ||
		strings.Contains(err.Error(), "ingestctl") {
		t.Fatalf("no credentials: %v", err)
	}
	if _, err := s.CreateIntegration(ctx, "ws-pending", ""); err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(ctx, "ws-pending", "")
	if !errors.Is(err, credstore.ErrIntegrationPending) || !credstore.IsPermanent(err) || !strings.Contains(err.Error(), "set its role ARN") || strings.Contains(err.Error(), "ingestctl") {
		t.Fatalf("pending: %v", err)
	}
	if _, err := r.Resolve(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "workspace") {
		t.Fatalf("empty workspace: %v", err)
	}
}

func TestResolverConfigValidation(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for field, cfg := range map[string]credstore.ResolverConfig{
		"ResolverConfig.Store":                  {},
		"ResolverConfig.SessionDuration":        {Store: s, SessionDuration: time.Minute},
		"ResolverConfig.ExpiryWindow":           {Store: s, SessionDuration: 15 * time.Minute, ExpiryWindow: 15 * time.Minute},
		"ResolverConfig.ExpiryWindowJitterFrac": {Store: s, ExpiryWindowJitterFrac: 2},
		"ResolverConfig.NegativeCacheTTL":       {Store: s, NegativeCacheTTL: -time.Second},
		"ResolverConfig.SourceIdentity":         {Store: s, SourceIdentity: "aws:me"},
		"ResolverConfig.SessionNamePrefix":      {Store: s, SessionNamePrefix: "bad prefix"},
		"ResolverConfig.STSEndpoint":            {Store: s, STSEndpoint: "localhost:1234"},
	} {
		_, err := credstore.NewResolver(cfg)
		var ve *credstore.ValidationError
		if !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Config()
	if c.SessionDuration != time.Hour || c.ExpiryWindow != 5*time.Minute || c.NegativeCacheTTL != 30*time.Second || c.SourceIdentity != "s3ingest" {
		t.Fatalf("defaults %+v", c)
	}
	for ws, want := range map[string]string{
		"ws-1":                  "s3ingest-ws-1",
		"org:team/ws 1":         "s3ingest-org-team-ws-1",
		strings.Repeat("x", 80): "s3ingest-" + strings.Repeat("x", 46) + "-",
	} {
		got := r.SessionName(ws)
		if !strings.HasPrefix(got, want) || len(got) > 64 || len(got) < 2 {
			t.Errorf("SessionName(%q) = %q", ws, got)
		}
	}
}

func TestResolveThroughAssumeRole(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ctx := testCtx(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "data/a.csv", []byte("id,name\n1,x\n"))

	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	r := newResolver(t, s, srv, nil)
	res, err := r.Resolve(ctx, ws, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "integration:"+testenv.ReaderRoleARN || res.Endpoint != "" || res.CredentialID != "" {
		t.Fatalf("resolved %+v", res)
	}
	creds, err := res.Provider.Retrieve(ctx)
	if err != nil || !creds.CanExpire || creds.SessionToken == "" {
		t.Fatalf("temporary credentials: %v (can expire %v, token %v)", err, creds.CanExpire, creds.SessionToken != "")
	}
	c := srv.Client(t, res.Provider)
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("data/")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("list with assumed role: %v", err)
	}
	if body, err := readObject(ctx, c, bucket, "data/a.csv"); err != nil || body != "id,name\n1,x\n" {
		t.Fatalf("get with assumed role: %q %v", body, err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("x"), Body: bytes.NewReader(nil)})
	if err == nil {
		t.Fatal("PutObject allowed with the read-only role")
	}
	calls := srv.AssumeRoleLog()
	var mine []testenv.AssumeRoleCall
	for _, call := range calls {
		if call.SessionName == r.SessionName(ws) {
			mine = append(mine, call)
		}
	}
	if len(mine) != 1 || mine[0].ExternalID != testenv.ReaderRoleExternalID || mine[0].RoleARN != testenv.ReaderRoleARN ||
		mine[0].Duration != 3600 || mine[0].AccessKeyID != testenv.PlatformAccessKey {
		t.Fatalf("AssumeRole calls %+v", mine)
	}

	// Confused-deputy check for verify: without the External ID, denied.
	integ, _ := s.GetIntegration(ctx, ws)
	_, err = r.AssumeRoleOnce(ctx, integ, "")
	var are *credstore.AssumeRoleError
	if !errors.As(err, &are) || are.Transient() || are.WithExternalID {
		t.Fatalf("AssumeRole without External ID: %v", err)
	}
	if _, err := r.AssumeRoleOnce(ctx, integ, integ.NewestExternalID()); err != nil {
		t.Fatalf("AssumeRoleOnce with the External ID: %v", err)
	}
}

func TestResolveWrongExternalIDIsPermanent(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, _ := newStore(t)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	// The generated External ID is not the one the role's trust policy wants.
	if _, err := s.CreateIntegration(ctx, ws, testenv.ReaderRoleARN); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, s, srv, nil)
	_, err := r.Resolve(ctx, ws, "")
	var are *credstore.AssumeRoleError
	if !errors.As(err, &are) {
		t.Fatalf("Resolve: %v, want *AssumeRoleError", err)
	}
	if are.Cause != credstore.CauseExternalIDMismatch || are.Transient() || !credstore.IsPermanent(err) || !credstore.IsSTSDenied(err) ||
		are.Code != "AccessDenied" || !strings.Contains(err.Error(), "External ID") || !strings.Contains(err.Error(), testenv.ReaderRoleARN) {
		t.Fatalf("wrong External ID: cause %q transient %v: %v", are.Cause, are.Transient(), err)
	}
	if strings.Contains(err.Error(), testenv.PlatformSecretKey) {
		t.Fatal("error leaks the platform secret")
	}
}

func TestResolveSingleAssumeRoleUnderConcurrency(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	r := newResolver(t, s, srv, nil)
	ctx := testCtx(t)

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	keys := make(chan string, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := r.Resolve(ctx, ws, "")
			if err != nil {
				errs <- err
				return
			}
			c, err := res.Provider.Retrieve(ctx)
			if err != nil {
				errs <- err
				return
			}
			keys <- c.AccessKeyID
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(keys)
	for err := range errs {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for k := range keys {
		distinct[k] = true
	}
	if got := assumeCalls(srv, r, ws); got != 1 || len(distinct) != 1 {
		t.Fatalf("%d AssumeRole calls and %d distinct keys for %d concurrent resolves, want 1 and 1", got, len(distinct), n)
	}
}

func TestDeniedRoleIsNegativeCached(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, _ := newStore(t)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	if _, err := s.CreateIntegration(ctx, ws, testenv.ReaderRoleARN); err != nil { // wrong External ID
		t.Fatal(err)
	}
	const ttl = 3 * time.Second
	r := newResolver(t, s, srv, func(c *credstore.ResolverConfig) { c.NegativeCacheTTL = ttl })

	first := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Resolve(ctx, ws, ""); !credstore.IsSTSDenied(err) {
				t.Errorf("Resolve: %v", err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 20; i++ {
		_, err := r.Resolve(ctx, ws, "")
		var are *credstore.AssumeRoleError
		if !errors.As(err, &are) || !are.Cached || are.Cause != credstore.CauseExternalIDMismatch {
			t.Fatalf("repeat %d: %v", i, err)
		}
	}
	if time.Since(first) < ttl {
		if got := assumeCalls(srv, r, ws); got != 1 {
			t.Fatalf("%d AssumeRole calls within the negative-cache window, want 1", got)
		}
	}
	time.Sleep(time.Until(first.Add(ttl + 200*time.Millisecond)))
	if _, err := r.Resolve(ctx, ws, ""); !credstore.IsSTSDenied(err) {
		t.Fatalf("after window: %v", err)
	}
	if got := assumeCalls(srv, r, ws); got != 2 {
		t.Fatalf("%d AssumeRole calls after the window expired, want 2", got)
	}
}

func TestRefreshAheadOfExpiry(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ctx := testCtx(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "k", []byte("v"))
	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	// 900 s is STS's minimum; a window of 898 s makes the cache refresh
	// 2 s after each AssumeRole.
	r := newResolver(t, s, srv, func(c *credstore.ResolverConfig) {
		c.SessionDuration = 900 * time.Second
		c.ExpiryWindow = 898 * time.Second
	})
	res, err := r.Resolve(ctx, ws, "")
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t, res.Provider)
	first, _ := res.Provider.Retrieve(ctx)
	if v, err := readObject(ctx, c, bucket, "k"); err != nil || v != "v" {
		t.Fatalf("read 1: %q %v", v, err)
	}
	if got := assumeCalls(srv, r, ws); got != 1 {
		t.Fatalf("%d AssumeRole calls before expiry, want 1", got)
	}
	time.Sleep(2500 * time.Millisecond)
	// The same provider (a long ingest holding it) keeps reading.
	if v, err := readObject(ctx, c, bucket, "k"); err != nil || v != "v" {
		t.Fatalf("read after refresh: %q %v", v, err)
	}
	second, _ := res.Provider.Retrieve(ctx)
	if got := assumeCalls(srv, r, ws); got != 2 {
		t.Fatalf("%d AssumeRole calls after the expiry window, want 2", got)
	}
	if first.AccessKeyID == second.AccessKeyID {
		t.Fatal("credentials were not refreshed")
	}
	for _, call := range srv.AssumeRoleLog() {
		if call.SessionName == r.SessionName(ws) && call.Duration != 900 {
			t.Fatalf("DurationSeconds %d, want 900", call.Duration)
		}
	}
}

func TestRemoveIsEffectiveOnEveryWorker(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	red := testenv.Redis(t)
	kr := newKeyring(t)
	api := storeOn(t, red.Client(t), kr) // the platform's API
	ctx := testCtx(t)
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "k", []byte("v"))
	ws := uniqueWorkspace(t)
	integrationOnShared(t, api, red.Client(t), ws)

	// Two workers with Run (pub/sub), one without (revision check only).
	w1 := newResolver(t, storeOn(t, red.Client(t), kr), srv, nil)
	w2 := newResolver(t, storeOn(t, red.Client(t), kr), srv, nil)
	w3 := newResolver(t, storeOn(t, red.Client(t), kr), srv, nil)
	runResolver(t, w1)
	runResolver(t, w2)
	var held []aws.CredentialsProvider
	for _, w := range []*credstore.Resolver{w1, w2, w3} {
		res, err := w.Resolve(ctx, ws, "")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, res.Provider)
	}
	if v, err := readObject(ctx, srv.Client(t, held[1]), bucket, "k"); err != nil || v != "v" {
		t.Fatalf("read before remove: %v", err)
	}

	if err := api.RemoveIntegration(ctx, ws); err != nil {
		t.Fatal(err)
	}
	for i, w := range []*credstore.Resolver{w1, w2, w3} {
		if _, err := w.Resolve(ctx, ws, ""); !errors.Is(err, credstore.ErrNoCredentials) {
			t.Fatalf("worker %d resolves after remove: %v", i+1, err)
		}
	}
	// Providers handed out before the removal (running ingests) stop too.
	for i, p := range held {
		if _, err := p.Retrieve(ctx); !errors.Is(err, credstore.ErrIntegrationRemoved) || !credstore.IsPermanent(err) {
			t.Fatalf("held provider %d after remove: %v", i+1, err)
		}
	}
	_, err := readObject(ctx, srv.Client(t, held[0]), bucket, "k")
	if !errors.Is(err, credstore.ErrIntegrationRemoved) {
		t.Fatalf("S3 read with a removed integration: %v", err)
	}

	// A workspace that creates a new integration gets a new External ID;
	// old providers stay dead.
	in2, err := api.CreateIntegration(ctx, ws, testenv.ReaderRoleARN)
	if err != nil || in2.ExternalID == testenv.ReaderRoleExternalID {
		t.Fatalf("re-create: %+v %v", in2, err)
	}
	if _, err := held[1].Retrieve(ctx); !errors.Is(err, credstore.ErrIntegrationRemoved) {
		t.Fatalf("old provider after re-create: %v", err)
	}
}

func TestRemoveReachesRunningWorkerByPubSub(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	red := testenv.Redis(t)
	kr := newKeyring(t)
	api := storeOn(t, red.Client(t), kr)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	integrationOnShared(t, api, red.Client(t), ws)
	w := newResolver(t, storeOn(t, red.Client(t), kr), srv, func(c *credstore.ResolverConfig) { c.RecheckInterval = time.Hour })
	runResolver(t, w)
	res, err := w.Resolve(ctx, ws, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := api.RemoveIntegration(ctx, ws); err != nil {
		t.Fatal(err)
	}
	// No Resolve on this worker: only the invalidation message can tell it.
	deadline := time.Now().Add(10 * time.Second)
	for len(w.CachedWorkspaces()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("invalidation message did not drop the cache entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := res.Provider.Retrieve(ctx); !errors.Is(err, credstore.ErrIntegrationRemoved) {
		t.Fatalf("held provider: %v", err)
	}
}

func TestSetRoleSwitchesRunningProviders(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	r := newResolver(t, s, srv, nil)
	runResolver(t, r)
	res, err := r.Resolve(ctx, ws, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, ws, "arn:aws:iam::000000000000:role/does-not-exist"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := res.Provider.Retrieve(ctx)
		var are *credstore.AssumeRoleError
		if errors.As(err, &are) && are.RoleARN == "arn:aws:iam::000000000000:role/does-not-exist" && !are.Transient() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider still uses the old role: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTransientSTSErrors(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	var mu sync.Mutex
	status := http.StatusServiceUnavailable
	endpoint := srv.STSFaultProxy(t, func(r *http.Request) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		return status, status != 0
	})
	r := newResolver(t, s, srv, func(c *credstore.ResolverConfig) {
		c.STS = srv.STSClientAt(t, endpoint, nil)
		c.NegativeCacheTTL = time.Millisecond
	})
	for _, tc := range []struct {
		status int
		cause  credstore.AssumeRoleCause
	}{
		{http.StatusServiceUnavailable, credstore.CauseServiceError},
		{http.StatusTooManyRequests, credstore.CauseThrottled},
		{http.StatusInternalServerError, credstore.CauseServiceError},
	} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // past the negative cache
		_, err := r.Resolve(ctx, ws, "")
		var are *credstore.AssumeRoleError
		if !errors.As(err, &are) || are.Cause != tc.cause || !are.Transient() || credstore.IsPermanent(err) || credstore.IsSTSDenied(err) {
			t.Fatalf("status %d: %v", tc.status, err)
		}
	}
	mu.Lock()
	status = 0
	mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	if _, err := r.Resolve(ctx, ws, ""); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestRotationKeepsOldExternalIDUntilFinished(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	r := newResolver(t, s, srv, nil)
	runResolver(t, r)
	held, err := r.Resolve(ctx, ws, "")
	if err != nil {
		t.Fatal(err)
	}
	rot, err := s.RotateExternalID(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	// During the overlap jobs keep the External ID the role trusts today.
	if _, err := r.Resolve(ctx, ws, ""); err != nil {
		t.Fatalf("Resolve during rotation: %v", err)
	}
	// Verification of the new ID (not yet in this role's trust policy) fails.
	if _, err := r.AssumeRoleOnce(ctx, rot, rot.NewestExternalID()); !credstore.IsSTSDenied(err) {
		t.Fatalf("AssumeRoleOnce with the new ID: %v", err)
	}
	// Finishing switches jobs, and running providers, to the new ID: here
	// the role does not trust it, so they fail with the External ID cause.
	if _, err := s.FinishRotation(ctx, ws); err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(ctx, ws, "")
	var are *credstore.AssumeRoleError
	if !errors.As(err, &are) || are.Cause != credstore.CauseExternalIDMismatch {
		t.Fatalf("Resolve after finish: %v", err)
	}
	if _, err := held.Provider.Retrieve(ctx); !credstore.IsSTSDenied(err) {
		t.Fatalf("held provider after finish: %v", err)
	}
	var sent []string
	for _, c := range srv.AssumeRoleLog() {
		if c.SessionName == r.SessionName(ws) {
			sent = append(sent, c.ExternalID)
		}
	}
	if len(sent) < 3 || sent[0] != testenv.ReaderRoleExternalID || sent[len(sent)-1] != rot.NextExternalID {
		t.Fatalf("External IDs sent: %v", sent)
	}
}

func TestInvalidPlatformCredentialsAreTransient(t *testing.T) {
	t.Parallel()
	srv := testenv.S3(t)
	s, rdb := newStore(t)
	ctx := testCtx(t)
	ws := uniqueWorkspace(t)
	integrationOnShared(t, s, rdb, ws)
	bad := testenv.Identity{Name: "platform", AccessKey: testenv.PlatformAccessKey, SecretKey: "wrong-secret-000000000000000000000000000"}
	r := newResolver(t, s, srv, func(c *credstore.ResolverConfig) { c.STS = srv.STSClient(t, bad.Provider()) })
	_, err := r.Resolve(ctx, ws, "")
	var are *credstore.AssumeRoleError
	if !errors.As(err, &are) || are.Cause != credstore.CausePlatformCredentials || !are.Transient() || credstore.IsPermanent(err) {
		t.Fatalf("bad platform secret: %v", err)
	}
	if strings.Contains(err.Error(), bad.SecretKey) {
		t.Fatal("error leaks the platform secret")
	}
}
