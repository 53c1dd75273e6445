package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
)

// Buckets of the dedicated SeaweedFS instances started by newIntegEnv.
const (
	customerBucket = "customer-data"
	otherBucket    = "other-bucket"
)

// platformAWSConfig is the platform's AWS configuration in testenv: the
// static keys of the "platform" identity, the principal that integrations'
// trust policies name (testenv.PlatformUserARN).
func platformAWSConfig() *aws.Config {
	return &aws.Config{Region: testenv.Region, Credentials: testenv.PlatformIdentity.Provider()}
}

// viaPlatformSTS makes the harness's resolver call the STS endpoint (the
// External-ID-checking proxy) of srv, signed with the platform's keys, as
// ingestd does with S3INGEST_STS_ENDPOINT and its default credentials.
func viaPlatformSTS(stsEndpoint string) harnessOpt {
	return withResolver(func(c *credstore.ResolverConfig) {
		c.STSEndpoint = stsEndpoint
		c.AWSConfig = platformAWSConfig()
	})
}

// roleSpec is a customer role of a dedicated SeaweedFS instance, assumed by
// the integration of Workspace.
type roleSpec struct {
	Workspace string
	// Name is the role name (arn:aws:iam::000000000000:role/<Name>).
	Name string
	// Policy renders the role's attached permission policy.
	Policy func(t *testing.T, integ *credstore.Integration) string
	// Trust renders the role's trust policy; nil means the one credstore
	// generates for the integration (integ.TrustPolicy()), loaded as is
	// (testenv drops only sts:SetSourceIdentity for SeaweedFS and enforces
	// the sts:ExternalId condition in its STS proxy).
	Trust func(t *testing.T, integ *credstore.Integration) string
	// Rotate starts an External ID rotation of the integration before the
	// policies are rendered.
	Rotate bool
}

// generatedPolicy is the permission policy credstore generates for the
// bucket and prefix: exactly what `ingestctl policy` prints.
func generatedPolicy(bucket, prefix string) func(*testing.T, *credstore.Integration) string {
	return func(t *testing.T, integ *credstore.Integration) string {
		t.Helper()
		doc, err := credstore.PermissionPolicy(integ.Partition(), credstore.BucketScope{Bucket: bucket, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return string(doc)
	}
}

// integEnv is a worker (real asynq on real Redis) whose jobs resolve
// through AWS integrations against a dedicated SeaweedFS: the roles are
// created from the integrations' generated documents, STS calls go through
// testenv's External ID proxy signed with the platform's keys, and S3
// requests through a recording proxy (unless changed).
type integEnv struct {
	*harness
	srv    *testenv.S3Server
	rec    *testenv.RecordingProxy
	integs map[string]*credstore.Integration // by workspace
}

// newIntegEnv creates the integrations of roles (in Redis, as `ingestctl
// integration create` does), starts a SeaweedFS whose roles carry the
// documents rendered from them, creates customerBucket and otherBucket, and
// starts the worker. more may add harness options that need the server.
func newIntegEnv(t *testing.T, roles []roleSpec, more func(srv *testenv.S3Server) []harnessOpt) *integEnv {
	t.Helper()
	ctx := t.Context()
	rdb := testenv.Redis(t).Client(t)
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, PlatformARN: testenv.PlatformUserARN})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.S3Config{Identities: []testenv.Identity{testenv.PlatformIdentity}}
	integs := map[string]*credstore.Integration{}
	for _, r := range roles {
		integ, err := store.CreateIntegration(ctx, r.Workspace, "arn:aws:iam::"+testenv.AccountID+":role/"+r.Name)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rotate {
			if integ, err = store.RotateExternalID(ctx, r.Workspace); err != nil {
				t.Fatal(err)
			}
		}
		integs[r.Workspace] = integ
		var trust string
		if r.Trust != nil {
			trust = r.Trust(t, integ)
		} else {
			doc, err := integ.TrustPolicy()
			if err != nil {
				t.Fatal(err)
			}
			trust = string(doc)
		}
		policy := "policy-" + r.Name
		cfg.Roles = append(cfg.Roles, testenv.Role{ARN: integ.RoleARN, TrustPolicy: trust, Policies: []string{policy}})
		cfg.Policies = append(cfg.Policies, testenv.Policy{Name: policy, Document: r.Policy(t, integ)})
	}
	srv := testenv.StartS3(t, cfg)
	srv.CreateBucket(t, customerBucket)
	srv.CreateBucket(t, otherBucket)
	rec := srv.RecordingProxy(t)
	opts := []harnessOpt{withRedis(rdb), withS3(srv), viaPlatformSTS(srv.STSEndpoint),
		withWorker(func(c *worker.Config) { c.S3Endpoint = rec.Endpoint })}
	if more != nil {
		opts = append(opts, more(srv)...)
	}
	return &integEnv{harness: newHarness(t, opts...), srv: srv, rec: rec, integs: integs}
}

// assumeRoleCalls returns the AssumeRole calls srv's STS proxy saw for the
// workspace's session name.
func assumeRoleCalls(srv *testenv.S3Server, r *credstore.Resolver, ws string) []testenv.AssumeRoleCall {
	var out []testenv.AssumeRoleCall
	for _, c := range srv.AssumeRoleLog() {
		if c.SessionName == r.SessionName(ws) {
			out = append(out, c)
		}
	}
	return out
}

// checkAllAllowed fails unless every recorded S3 request got a 2xx answer
// and was signed with temporary (AssumeRole) credentials; it returns the
// distinct access keys used.
func checkAllAllowed(t *testing.T, reqs []testenv.RecordedRequest) map[string]bool {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("the worker made no S3 request through the proxy")
	}
	keys := map[string]bool{}
	for _, r := range reqs {
		if r.Status < 200 || r.Status > 299 {
			t.Errorf("%s %s?%s answered %d: the worker made a request the role's policy does not allow", r.Method, r.Path, r.Query, r.Status)
		}
		if !strings.HasPrefix(r.AccessKeyID, "ASIA") {
			t.Errorf("%s %s signed with %q, want temporary credentials from AssumeRole", r.Method, r.Path, r.AccessKeyID)
		}
		keys[r.AccessKeyID] = true
	}
	return keys
}

// denied fails unless err is S3's access denial.
func denied(t *testing.T, what string, err error) {
	t.Helper()
	var ae smithy.APIError
	switch {
	case err == nil:
		t.Errorf("%s: allowed, want AccessDenied", what)
	case !errors.As(err, &ae) || (ae.ErrorCode() != "AccessDenied" && ae.ErrorCode() != "Forbidden"):
		t.Errorf("%s: %v, want AccessDenied", what, err)
	}
}

// TestIngestThroughIntegration loads the permission policy credstore
// generates for a bucket and prefix, and the trust policy it generates for
// the integration, into SeaweedFS's IAM; an ingest that names no credential
// goes through STS AssumeRole with the External ID, every S3 request it
// makes is allowed by that policy, and the session can do nothing else.
func TestIngestThroughIntegration(t *testing.T) {
	const ws = "ws-integrated"
	env := newIntegEnv(t, []roleSpec{{Workspace: ws, Name: "customer-ingest", Policy: generatedPolicy(customerBucket, "exports/")}}, nil)
	env.srv.Put(t, customerBucket, "exports/2024/a.csv", ordersCSV(1, 120, nil))
	env.srv.Put(t, customerBucket, "exports/b.csv.gz", gz(ordersCSV(121, 80, nil)))
	env.srv.Put(t, customerBucket, "private/secret.csv", ordersCSV(900, 3, nil))
	env.srv.Put(t, otherBucket, "exports/c.csv", ordersCSV(500, 3, nil))

	var res jobs.IngestResult
	info, err := env.run(ingestTask(t, ws, "", customerBucket, "exports/", "orders"), &res)
	if err != nil {
		t.Fatalf("ingest through the integration: %v (state %s)", err, info.State)
	}
	if !res.Done || res.Objects != 2 || res.Rows != 200 || res.Failed != 0 || res.Rejected != 0 {
		t.Fatalf("result = %+v", res)
	}
	checkOrders(t, readDataset(t, env.harness, ws, "orders"), 200)

	// Every S3 call the worker made was allowed by the generated policy,
	// with the role's temporary credentials; it listed and read both objects.
	reqs := env.rec.Requests()
	checkAllAllowed(t, reqs)
	var listed bool
	read := map[string]bool{}
	for _, r := range reqs {
		switch {
		case r.Method == http.MethodGet && r.Path == "/"+customerBucket && strings.Contains(r.Query, "list-type=2"):
			listed = true
		case r.Method == http.MethodGet:
			read[strings.TrimPrefix(r.Path, "/"+customerBucket+"/")] = true
		}
	}
	if !listed || !read["exports/2024/a.csv"] || !read["exports/b.csv.gz"] || len(read) != 2 {
		t.Fatalf("requests %+v: want a listing of %s and reads of the two objects only", reqs, customerBucket)
	}
	// One AssumeRole, with the integration's External ID, for the whole ingest.
	calls := assumeRoleCalls(env.srv, env.resolver, ws)
	if len(calls) != 1 || calls[0].ExternalID != env.integs[ws].ExternalID || calls[0].RoleARN != env.integs[ws].RoleARN ||
		calls[0].AccessKeyID != testenv.PlatformAccessKey || calls[0].Status != http.StatusOK {
		t.Fatalf("AssumeRole calls %+v: want one, by the platform, with the integration's role and External ID", calls)
	}

	// The same temporary credentials cannot write, read outside the prefix,
	// or touch another bucket.
	resolved, err := env.resolver.Resolve(t.Context(), ws, "")
	if err != nil {
		t.Fatal(err)
	}
	c := env.srv.Client(t, resolved.Provider, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	ctx := t.Context()
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(customerBucket), Key: aws.String("exports/new.csv"), Body: bytes.NewReader([]byte("x\n"))})
	denied(t, "PutObject into the bucket", err)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(otherBucket), Key: aws.String("exports/c.csv")})
	denied(t, "GetObject from another bucket", err)
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(otherBucket), Prefix: aws.String("exports/")})
	denied(t, "ListObjectsV2 of another bucket", err)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(customerBucket), Key: aws.String("private/secret.csv")})
	denied(t, "GetObject outside the prefix", err)
	// ...while reading within it works (the denials are the policy's).
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(customerBucket), Key: aws.String("exports/2024/a.csv")})
	if err != nil {
		t.Fatalf("GetObject within the prefix with the same credentials: %v", err)
	}
	out.Body.Close()

	// An ingest outside the granted prefix is refused by S3 and fails for
	// good, naming the permission.
	info, err = env.run(ingestTask(t, ws, "", customerBucket, "private/", "private"), nil)
	if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("ingest outside the prefix: state %s retried %d err %v, want archived at once", info.State, info.Retried, err)
	}
	if !strings.Contains(info.LastErr, "access denied") || !strings.Contains(info.LastErr, "s3:ListBucket") {
		t.Fatalf("last error %q should say access was denied and name s3:ListBucket", info.LastErr)
	}
}

// TestIngestWrongExternalIDIsArchived: the role's trust policy requires
// another External ID than the integration's (the shared instance's reader
// role wants testenv.ReaderRoleExternalID). The ingest is archived without
// retry, its error names the External ID, nothing is read from S3, STS is
// not called again within the negative-cache window, and Verify names the
// External ID as the cause with the fix.
func TestIngestWrongExternalIDIsArchived(t *testing.T) {
	srv := testenv.S3(t)
	rec := srv.RecordingProxy(t)
	h := newHarness(t, viaPlatformSTS(srv.STSEndpoint), withWorker(func(c *worker.Config) { c.S3Endpoint = rec.Endpoint }),
		withResolver(func(c *credstore.ResolverConfig) { c.NegativeCacheTTL = time.Minute }))
	const ws = "ws-wrong-external-id"
	integ, err := h.store.CreateIntegration(t.Context(), ws, testenv.ReaderRoleARN)
	if err != nil {
		t.Fatal(err)
	}
	if integ.ExternalID == testenv.ReaderRoleExternalID {
		t.Fatal("the generated External ID equals the role's")
	}
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "a.csv", ordersCSV(1, 3, nil))
	callsWithOurID := func() (n int) {
		for _, c := range srv.AssumeRoleLog() {
			if c.RoleARN == testenv.ReaderRoleARN && c.ExternalID == integ.ExternalID {
				n++
			}
		}
		return n
	}

	for i := range 2 {
		info, err := h.run(ingestTask(t, ws, "", bucket, "", "orders"), nil)
		if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
			t.Fatalf("run %d: state %s retried %d err %v, want archived without retry", i, info.State, info.Retried, err)
		}
		for _, want := range []string{"External ID", "sts:ExternalId", testenv.ReaderRoleARN, "External ID of workspace " + ws + "'s integration"} {
			if !strings.Contains(info.LastErr, want) {
				t.Fatalf("run %d: last error %q lacks %q", i, info.LastErr, want)
			}
		}
		if strings.Contains(info.LastErr, "ingestctl") {
			t.Fatalf("run %d: last error %q names a CLI command (only the CLI may)", i, info.LastErr)
		}
	}
	if n := callsWithOurID(); n != 1 {
		t.Fatalf("%d AssumeRole calls with the integration's External ID, want 1 (the denial is negative-cached)", n)
	}
	if reqs := rec.Requests(); len(reqs) != 0 {
		t.Fatalf("%d S3 requests without credentials: %+v", len(reqs), reqs)
	}
	if _, err := os.Stat(h.datasetDir(ws, "orders")); err == nil {
		t.Fatal("a dataset was created")
	}

	// Verify bypasses the negative cache and names the cause and the fix.
	rep, err := h.handlers.Verify(t.Context(), jobs.VerifyPayload{WorkspaceID: ws, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	checkStatuses(t, rep, "pass fail skip skip skip skip skip")
	ar := rep.Checks[1]
	for _, want := range []string{integ.ExternalID, string(credstore.CauseExternalIDMismatch)} {
		if !strings.Contains(ar.Detail, want) {
			t.Fatalf("assume-role detail %q lacks %q", ar.Detail, want)
		}
	}
	if !strings.Contains(ar.Fix, "sts:ExternalId") || !strings.Contains(ar.Fix, "External ID of workspace "+ws+"'s integration") {
		t.Fatalf("assume-role fix %q should say to set sts:ExternalId and where to find it", ar.Fix)
	}
	if n := callsWithOurID(); n != 2 {
		t.Fatalf("%d AssumeRole calls with the External ID after verify, want 2", n)
	}
}

// TestIngestRefreshesCredentialsMidIngest: the cached role credentials go
// stale one second after each AssumeRole (SessionDuration 15m, ExpiryWindow
// 15m-1s), and every object read is slowed down, so the ingest outlives
// several sessions. It succeeds with every row; the proxy saw several
// AssumeRole calls and the S3 requests were signed with several sessions.
func TestIngestRefreshesCredentialsMidIngest(t *testing.T) {
	const ws = "ws-refresh"
	const objects = 8
	env := newIntegEnv(t, []roleSpec{{Workspace: ws, Name: "refresh", Policy: generatedPolicy(customerBucket, "slow/")}},
		func(srv *testenv.S3Server) []harnessOpt {
			slow := srv.FaultProxy(t, func(r *http.Request) (int, bool) {
				if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+customerBucket+"/slow/") {
					time.Sleep(600 * time.Millisecond)
				}
				return 0, false
			})
			return []harnessOpt{
				withWorker(func(c *worker.Config) { c.S3Endpoint = slow }),
				withResolver(func(c *credstore.ResolverConfig) {
					c.SessionDuration = 15 * time.Minute
					c.ExpiryWindow = 15*time.Minute - time.Second
				}),
			}
		})
	for i := range objects {
		env.srv.Put(t, customerBucket, fmt.Sprintf("slow/part-%02d.csv", i), ordersCSV(i*10+1, 10, nil))
	}

	var res jobs.IngestResult
	start := time.Now()
	info, err := env.run(ingestTask(t, ws, "", customerBucket, "slow/", "slow", func(p *jobs.IngestPayload) { p.Concurrency = 1 }), &res)
	if err != nil {
		t.Fatalf("ingest across credential refreshes: %v (state %s, last error %s)", err, info.State, info.LastErr)
	}
	took := time.Since(start)
	if res.Objects != objects || res.Rows != objects*10 || info.Retried != 0 {
		t.Fatalf("result %+v, retried %d", res, info.Retried)
	}
	checkOrders(t, readDataset(t, env.harness, ws, "slow"), objects*10)

	calls := assumeRoleCalls(env.srv, env.resolver, ws)
	for _, c := range calls {
		if c.Status != http.StatusOK || c.ExternalID != env.integs[ws].ExternalID || c.Duration != 900 {
			t.Fatalf("AssumeRole call %+v: want 200 with the External ID and DurationSeconds 900", c)
		}
	}
	if len(calls) < 2 {
		t.Fatalf("%d AssumeRole calls during a %s ingest whose credentials go stale after 1s: no refresh happened", len(calls), took)
	}
	var reqs []testenv.RecordedRequest
	for _, r := range env.srv.Requests() {
		if r.Proxy != env.rec.Endpoint { // the slow proxy's
			reqs = append(reqs, r)
		}
	}
	if keys := checkAllAllowed(t, reqs); len(keys) < 2 {
		t.Fatalf("S3 requests were signed with %d session(s), want the refreshed ones too", len(keys))
	}
	t.Logf("ingest took %s, %d AssumeRole calls", took, len(calls))
}

// TestIntegrationRemoved: after store.RemoveIntegration no worker can use
// the integration: an ingest that is running when it is removed stops
// reading (its next requests cannot get credentials), and a new ingest of
// the workspace fails at once, without retry, saying how to fix it.
func TestIntegrationRemoved(t *testing.T) {
	const ws = "ws-removed"
	const objects = 6
	env := newIntegEnv(t, []roleSpec{{Workspace: ws, Name: "removed", Policy: generatedPolicy(customerBucket, "data/")}},
		func(srv *testenv.S3Server) []harnessOpt {
			slow := srv.FaultProxy(t, func(r *http.Request) (int, bool) {
				if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+customerBucket+"/data/slow/") {
					time.Sleep(400 * time.Millisecond)
				}
				return 0, false
			})
			return []harnessOpt{withWorker(func(c *worker.Config) { c.S3Endpoint = slow })}
		})
	env.srv.Put(t, customerBucket, "data/fast/a.csv", ordersCSV(1, 5, nil))
	for i := range objects {
		env.srv.Put(t, customerBucket, fmt.Sprintf("data/slow/part-%02d.csv", i), ordersCSV(i*10+1, 10, nil))
	}
	ctx := t.Context()

	// It works before the removal.
	if info, err := env.run(ingestTask(t, ws, "", customerBucket, "data/fast/", "fast"), nil); err != nil {
		t.Fatalf("ingest before removal: %v (%s)", err, info.LastErr)
	}

	// Remove while a slow ingest runs.
	task := ingestTask(t, ws, "", customerBucket, "data/slow/", "slow", func(p *jobs.IngestPayload) { p.Concurrency = 1 })
	enq, err := env.jobs.Enqueue(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ti, err := env.jobs.Task(enq.Queue, enq.ID)
		if err != nil {
			t.Fatal(err)
		}
		var progress jobs.IngestResult
		if len(ti.Result) > 0 && json.Unmarshal(ti.Result, &progress) == nil && progress.Objects >= 1 {
			break
		}
		if ti.State == asynq.TaskStateCompleted || ti.State == asynq.TaskStateArchived || time.Now().After(deadline) {
			t.Fatalf("the slow ingest did not get under way: state %s, result %s", ti.State, ti.Result)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := env.store.RemoveIntegration(ctx, ws); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	info, err := env.jobs.Wait(wctx, enq.Queue, enq.ID, 20*time.Millisecond)
	if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("running ingest after removal: state %s retried %d err %v, want archived without retry", info.State, info.Retried, err)
	}
	if !strings.Contains(info.LastErr, credstore.ErrIntegrationRemoved.Error()) {
		t.Fatalf("last error %q should say the integration was removed", info.LastErr)
	}
	var res jobs.IngestResult
	if err := jobs.DecodeResult(info, &res); err != nil {
		t.Fatal(err)
	}
	if res.Objects < 1 || res.Objects >= objects || res.Failed != objects-res.Objects {
		t.Fatalf("result %+v: want the objects read before the removal committed and the rest failed", res)
	}
	if ds := readDataset(t, env.harness, ws, "slow"); len(ds.Rows) != int(res.Rows) {
		t.Fatalf("dataset has %d rows, result says %d", len(ds.Rows), res.Rows)
	}
	if keys := env.resolver.CachedWorkspaces(); len(keys) != 0 {
		t.Fatalf("the resolver still caches %v after the removal", keys)
	}

	// A new ingest fails at once and says how to fix it, without STS.
	before := len(assumeRoleCalls(env.srv, env.resolver, ws))
	info, err = env.run(ingestTask(t, ws, "", customerBucket, "data/fast/", "after"), nil)
	if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("ingest after removal: state %s retried %d err %v, want archived at once", info.State, info.Retried, err)
	}
	for _, want := range []string{"has no AWS integration", "create an AWS integration for the workspace", "store access keys as a credential instance"} {
		if !strings.Contains(info.LastErr, want) {
			t.Fatalf("last error %q lacks %q", info.LastErr, want)
		}
	}
	if after := len(assumeRoleCalls(env.srv, env.resolver, ws)); after != before {
		t.Fatalf("%d AssumeRole calls after the removal", after-before)
	}
}

// TestIngestWithoutCredentials: a job that names no credential instance,
// for a workspace with no integration (or a pending one), fails at once with
// a message that says how to fix it.
func TestIngestWithoutCredentials(t *testing.T) {
	srv := testenv.S3(t)
	rec := srv.RecordingProxy(t)
	h := newHarness(t, viaPlatformSTS(srv.STSEndpoint), withWorker(func(c *worker.Config) { c.S3Endpoint = rec.Endpoint }))
	bucket := srv.UniqueBucket(t)
	srv.Put(t, bucket, "a.csv", ordersCSV(1, 3, nil))
	if _, err := h.store.CreateIntegration(t.Context(), "ws-pending", ""); err != nil {
		t.Fatal(err)
	}
	for ws, wants := range map[string][]string{
		"ws-nothing": {"ws-nothing", "no AWS credentials configured", "create an AWS integration for the workspace", "store access keys as a credential instance"},
		"ws-pending": {"ws-pending", "no role ARN yet", "set its role ARN"},
	} {
		info, err := h.run(ingestTask(t, ws, "", bucket, "", "orders-"+ws), nil)
		if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
			t.Fatalf("%s: state %s retried %d err %v, want archived at once", ws, info.State, info.Retried, err)
		}
		for _, want := range wants {
			if !strings.Contains(info.LastErr, want) {
				t.Errorf("%s: last error %q lacks %q", ws, info.LastErr, want)
			}
		}
	}
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("%d S3 requests without credentials", n)
	}
}
