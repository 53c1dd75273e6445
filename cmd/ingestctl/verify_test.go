package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/daemon"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestCLIVerify sets up customer roles in a dedicated SeaweedFS from the
// documents `integration create` prints, then runs `integration verify` on a
// running daemon (the default) and in-process (--local), and `rotate
// --finish --bucket`, which verifies the new External ID first.
func TestCLIVerify(t *testing.T) {
	c := newCLI(t)
	const bucket = "customer-data"
	role := func(name string) string { return "arn:aws:iam::" + testenv.AccountID + ":role/" + name }

	// ws1's role is exactly what `integration create` prints.
	var created struct {
		Integration      credstore.Integration `json:"integration"`
		TrustPolicy      json.RawMessage       `json:"trust_policy"`
		PermissionPolicy json.RawMessage       `json:"permission_policy"`
	}
	out := c.ok("", "--json", "integration", "create", "--workspace", "ws1", "--role-arn", role("cli-verify"), "--bucket", bucket, "--prefix", "exports/")
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created.PermissionPolicy) == 0 {
		t.Fatalf("create --json: %v\n%s", err, out)
	}
	perm := string(created.PermissionPolicy)
	// ws-open's trust policy lacks the sts:ExternalId condition.
	c.ok("", "integration", "create", "--workspace", "ws-open", "--role-arn", role("cli-open"))
	// ws-rot is rotating; the customer applied the new External ID.
	c.ok("", "integration", "create", "--workspace", "ws-rot", "--role-arn", role("cli-rot"))
	var rot struct {
		Integration credstore.Integration `json:"integration"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "--json", "integration", "rotate", "--workspace", "ws-rot")), &rot); err != nil {
		t.Fatal(err)
	}
	rotTrust, err := credstore.TrustPolicy(cliUserARN, rot.Integration.NextExternalID)
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartS3(t, testenv.S3Config{
		Identities: []testenv.Identity{testenv.PlatformIdentity},
		Roles: []testenv.Role{
			{ARN: role("cli-verify"), TrustPolicy: string(created.TrustPolicy), Policies: []string{"perm"}},
			{ARN: role("cli-open"), TrustPolicy: testenv.TrustPolicyFor(cliUserARN, ""), Policies: []string{"perm"}},
			{ARN: role("cli-rot"), TrustPolicy: string(rotTrust), Policies: []string{"perm"}},
		},
		Policies: []testenv.Policy{{Name: "perm", Document: perm}},
	})
	srv.CreateBucket(t, bucket)
	srv.Put(t, bucket, "exports/a.csv", []byte("id,name\n1,a\n2,b\n"))
	srv.Put(t, bucket, "private/b.csv", []byte("id\n1\n"))

	// ingestctl itself has no AWS credentials for the default mode.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	// Without a daemon, verify says so after --timeout.
	_, _, err = c.run("", "integration", "verify", "--workspace", "ws1", "--bucket", bucket, "--timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "no verification report within 1s") || !strings.Contains(err.Error(), "--local") {
		t.Fatalf("verify without ingestd: %v", err)
	}
	c.fails("--bucket is required", "", "integration", "verify", "--workspace", "ws1")
	c.fails("--workspace is required", "", "integration", "verify", "--bucket", bucket)
	c.fails("source.bucket", "", "integration", "verify", "--workspace", "ws1", "--bucket", "a/b")

	// A daemon with the platform's credentials, as ingestd runs.
	stopDaemon := startVerifyDaemon(t, c, srv)
	t.Run("on the daemon", func(t *testing.T) {
		out := c.ok("", "integration", "verify", "--workspace", "ws1", "--bucket", bucket, "--prefix", "exports/")
		for _, step := range []string{"integration", "assume-role", "external-id-required", "bucket-region", "list", "read", "sniff"} {
			mustLine(t, out, "PASS", step)
		}
		for _, want := range []string{"workspace ws1 against s3://" + bucket + "/exports/", "role " + role("cli-verify"),
			created.Integration.ExternalID, "exports/a.csv", "format csv", "PASSED: every step passed"} {
			if !strings.Contains(out, want) {
				t.Fatalf("verify output lacks %q:\n%s", want, out)
			}
		}

		var rep jobs.VerifyReport
		js := c.ok("", "--json", "integration", "verify", "--workspace", "ws1", "--bucket", bucket, "--prefix", "exports/")
		if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Checks) != 7 || !rep.OK() || rep.RoleARN != role("cli-verify") {
			t.Fatalf("verify --json: %v\n%s", err, js)
		}

		// A prefix the policy does not cover: non-zero exit, the cause and the fix.
		out, _, err := c.run("", "integration", "verify", "--workspace", "ws1", "--bucket", bucket, "--prefix", "private/")
		if err == nil || !strings.Contains(err.Error(), "list: access denied") {
			t.Fatalf("verify of a denied prefix: err %v\n%s", err, out)
		}
		mustLine(t, out, "FAIL", "list", "s3://"+bucket+"/private/")
		mustLine(t, out, "SKIP", "read")
		for _, want := range []string{"fix: check the role's policy allows s3:ListBucket", "FAILED: 1 step failed, 0 warnings"} {
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}
		js, _, err = c.run("", "--json", "integration", "verify", "--workspace", "ws1", "--bucket", bucket, "--prefix", "private/")
		if err == nil || json.Unmarshal([]byte(js), &rep) != nil || rep.OK() {
			t.Fatalf("verify --json of a denied prefix: err %v\n%s", err, js)
		}

		// No External ID condition: a warning, exit 0.
		out = c.ok("", "integration", "verify", "--workspace", "ws-open", "--bucket", bucket, "--prefix", "exports/")
		mustLine(t, out, "WARN", "external-id-required", "WITHOUT the External ID")
		if !strings.Contains(out, `fix: add "Condition"`) || !strings.Contains(out, "PASSED with 1 warning") {
			t.Fatalf("output:\n%s", out)
		}

		// No integration at all.
		out, _, err = c.run("", "integration", "verify", "--workspace", "ws-none", "--bucket", bucket)
		if err == nil || !strings.Contains(err.Error(), "integration: workspace ws-none has no AWS integration") {
			t.Fatalf("verify without an integration: %v\n%s", err, out)
		}
		if !strings.Contains(out, "run: ingestctl integration create --workspace ws-none") {
			t.Fatalf("output:\n%s", out)
		}
	})
	stopDaemon()

	// --local: this process calls STS with the platform's credentials from
	// the default chain (here: the environment) and S3INGEST_STS_ENDPOINT.
	t.Setenv("AWS_ACCESS_KEY_ID", testenv.PlatformAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.PlatformSecretKey)
	t.Setenv("AWS_REGION", testenv.Region)
	t.Setenv(envSTSEndpoint, srv.STSEndpoint)
	t.Setenv(envS3Endpoint, srv.Endpoint)
	t.Setenv(envS3Region, srv.Region)
	// The app's production resolver: the default credential chain and
	// S3INGEST_STS_ENDPOINT.

	t.Run("local", func(t *testing.T) {
		var rep jobs.VerifyReport
		js := c.ok("", "--json", "integration", "verify", "--local", "--workspace", "ws1", "--bucket", bucket, "--prefix", "exports/")
		if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Checks) != 7 {
			t.Fatalf("verify --local --json: %v\n%s", err, js)
		}
		for _, ch := range rep.Checks {
			if ch.Status != jobs.CheckPass {
				t.Fatalf("step %s: %s %s (fix: %s)", ch.Step, ch.Status, ch.Detail, ch.Fix)
			}
		}
		if !strings.Contains(rep.Checks[3].Detail, srv.Endpoint) {
			t.Fatalf("region step %q does not use S3INGEST_S3_ENDPOINT", rep.Checks[3].Detail)
		}
		out, _, err := c.run("", "integration", "verify", "--local", "--workspace", "ws1", "--bucket", bucket, "--prefix", "private/")
		if err == nil {
			t.Fatalf("verify --local of a denied prefix passed:\n%s", out)
		}
		mustLine(t, out, "FAIL", "list")
	})

	t.Run("rotate --finish verifies the new External ID", func(t *testing.T) {
		// ws1's new External ID is not in its role's trust policy.
		c.ok("", "integration", "rotate", "--workspace", "ws1")
		out, _, err := c.run("", "integration", "rotate", "--finish", "--workspace", "ws1", "--bucket", bucket, "--prefix", "exports/")
		if err == nil || !strings.Contains(err.Error(), "NOT finished") || !strings.Contains(err.Error(), "assume-role") {
			t.Fatalf("finish with an unapplied External ID: err %v\n%s", err, out)
		}
		mustLine(t, out, "FAIL", "assume-role", "External ID")
		if !strings.Contains(out, "trust policy must accept the new External ID") {
			t.Fatalf("the fix should say the trust policy must accept the new External ID:\n%s", out)
		}
		var still struct {
			Integration credstore.Integration `json:"integration"`
		}
		_ = json.Unmarshal([]byte(c.ok("", "--json", "integration", "show", "--workspace", "ws1")), &still)
		if !still.Integration.Rotating() || still.Integration.ExternalID != created.Integration.ExternalID {
			t.Fatalf("a failed verification changed the record: %+v", still.Integration)
		}

		// ws-rot's role accepts the new ID: the report goes to stderr with
		// --json, stdout is the finished integration.
		js, stderr, err := c.run("", "--json", "integration", "rotate", "--finish", "--workspace", "ws-rot", "--bucket", bucket, "--prefix", "exports/")
		if err != nil {
			t.Fatalf("finish: %v\nstdout:\n%s\nstderr:\n%s", err, js, stderr)
		}
		var fin credstore.Integration
		if err := json.Unmarshal([]byte(js), &fin); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, js)
		}
		if fin.Rotating() || fin.ExternalID != rot.Integration.NextExternalID {
			t.Fatalf("finished integration %+v, want External ID %s", fin, rot.Integration.NextExternalID)
		}
		mustLine(t, stderr, "PASS", "assume-role", rot.Integration.NextExternalID)
		mustLine(t, stderr, "PASS", "sniff")
	})
}

// mustLine fails unless out has a line with the status and step (and the
// other strings).
func mustLine(t *testing.T, out, status, step string, more ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != status || f[1] != step {
			continue
		}
		ok := true
		for _, m := range more {
			ok = ok && strings.Contains(line, m)
		}
		if ok {
			return
		}
	}
	t.Fatalf("no line %q %q %q in:\n%s", status, step, more, out)
}

// startVerifyDaemon runs the daemon on the CLI's Redis with the platform's
// credentials (the STS proxy of srv) and S3 at srv; the returned func stops
// it.
func startVerifyDaemon(t *testing.T, c *cli, srv *testenv.S3Server) func() {
	t.Helper()
	rs := &testenv.RedisServer{Addr: strings.TrimSuffix(strings.TrimPrefix(c.url, "redis://"), "/0")}
	rdb := rs.Client(t)
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	resolver, err := credstore.NewResolver(credstore.ResolverConfig{Store: store, STSEndpoint: srv.STSEndpoint,
		AWSConfig: &aws.Config{Region: testenv.Region, Credentials: testenv.PlatformIdentity.Provider()}})
	if err != nil {
		t.Fatal(err)
	}
	snk, err := sink.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Redis: rdb, RedisConnOpt: asynq.RedisClientOpt{Addr: rs.Addr},
			Resolver: resolver, Sink: snk, Worker: worker.Config{S3Endpoint: srv.Endpoint},
			Server: worker.ServerConfig{Concurrency: 2, ShutdownTimeout: time.Second}})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		snk.Close()
	}
	t.Cleanup(stop)
	return stop
}

// TestCLIRotateFinishUsesVerifier injects the app's rotation verifier:
// `rotate --finish --bucket` runs it with the workspace, bucket and prefix,
// finishes nothing when it fails, and finishes when it passes.
func TestCLIRotateFinishUsesVerifier(t *testing.T) {
	c := newCLI(t)
	c.ok("", "integration", "create", "--workspace", "ws1", "--role-arn", "arn:aws:iam::123456789012:role/r")
	var rot struct {
		Integration credstore.Integration `json:"integration"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "--json", "integration", "rotate", "--workspace", "ws1")), &rot); err != nil {
		t.Fatal(err)
	}

	var calls []string
	verdict := errors.New("list: access denied")
	c.setup = func(a *app) {
		a.verifyRotation = func(_ *cobra.Command, ws, bucket, prefix string) error {
			calls = append(calls, ws+" "+bucket+" "+prefix)
			return verdict
		}
		a.newResolver = func(*credstore.Store) (*credstore.Resolver, error) {
			return nil, errors.New("with --bucket the AssumeRole-only check must not run")
		}
	}
	_, _, err := c.run("", "integration", "rotate", "--finish", "--workspace", "ws1", "--bucket", "b-bucket", "--prefix", "in/")
	if err == nil || !errors.Is(err, verdict) || !strings.Contains(err.Error(), "NOT finished") {
		t.Fatalf("finish with a failing verification: %v", err)
	}
	var still struct {
		Integration credstore.Integration `json:"integration"`
	}
	_ = json.Unmarshal([]byte(c.ok("", "--json", "integration", "show", "--workspace", "ws1")), &still)
	if !still.Integration.Rotating() {
		t.Fatalf("a failed verification finished the rotation: %+v", still.Integration)
	}

	verdict = nil
	js := c.ok("", "--json", "integration", "rotate", "--finish", "--workspace", "ws1", "--bucket", "b-bucket", "--prefix", "in/")
	var fin credstore.Integration
	if err := json.Unmarshal([]byte(js), &fin); err != nil || fin.Rotating() || fin.ExternalID != rot.Integration.NextExternalID {
		t.Fatalf("finish after a passing verification: %v\n%s", err, js)
	}
	if want := []string{"ws1 b-bucket in/", "ws1 b-bucket in/"}; strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Fatalf("verifier calls %q, want %q", calls, want)
	}
}
