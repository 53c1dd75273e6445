package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

const cliUserARN = "arn:aws:iam::000000000000:user/platform"

// cli runs ingestctl commands against one real redis-server.
type cli struct {
	t   *testing.T
	url string
	// setup, when set, adjusts each command's app (e.g. its resolver)
	// before the command runs.
	setup func(*app)
	// stdin is what execute's commands read on stdin.
	stdin string
}

func newCLI(t *testing.T) *cli {
	t.Setenv(credstore.SecretKeyEnv, credstore.GenerateKey())
	t.Setenv(credstore.PlatformARNEnv, cliUserARN)
	t.Setenv(envCredSecret, "")
	t.Setenv(envCredSessionToken, "")
	return &cli{t: t, url: testenv.Redis(t).URL()}
}

// run executes one command line through the real root command and returns
// stdout, stderr and the error.
func (c *cli) run(stdin string, args ...string) (string, string, error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(&out, &errOut)
	if c.setup != nil {
		c.setup(a)
	}
	defer a.close()
	root := newRootCmd(a)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"--redis-url", c.url}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("ingestctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (c *cli) fails(want string, stdin string, args ...string) {
	c.t.Helper()
	out, _, err := c.run(stdin, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		c.t.Fatalf("ingestctl %s: err %v, want one containing %q\nstdout:\n%s", strings.Join(args, " "), err, want, out)
	}
}

func TestCLICredentials(t *testing.T) {
	c := newCLI(t)
	const secret, token = "cliSecretValue0123456789abcdefghijkl", "cliSessionTokenValue987654321"

	out := c.ok(secret+"\n"+token+"\n", "credential", "add", "--workspace", "ws1", "--name", "minio",
		"--access-key-id", "AKIACLI1", "--endpoint", "https://minio.example.com", "--secret-stdin")
	if !strings.Contains(out, "credential cred_") || !strings.Contains(out, "session token:  stored") || strings.Contains(out, secret) {
		t.Fatalf("add output:\n%s", out)
	}
	t.Setenv(envCredSecret, secret+"2")
	var added credstore.Credential
	if err := json.Unmarshal([]byte(c.ok("", "--json", "credential", "add", "--workspace", "ws1", "--name", "env", "--access-key-id", "AKIACLI2")), &added); err != nil {
		t.Fatal(err)
	}
	if added.Name != "env" || added.HasSessionToken || added.ID == "" {
		t.Fatalf("added %+v", added)
	}
	t.Setenv(envCredSecret, "")

	c.fails("--secret-stdin", "", "credential", "add", "--workspace", "ws1", "--name", "x", "--access-key-id", "AK")
	c.fails("stdin is empty", "", "credential", "add", "--workspace", "ws1", "--name", "x", "--access-key-id", "AK", "--secret-stdin")
	c.fails("unknown flag: --secret", "", "credential", "add", "--workspace", "ws1", "--name", "x", "--access-key-id", "AK", "--secret", "s")
	c.fails("already exists", secret, "credential", "add", "--workspace", "ws1", "--name", "minio", "--access-key-id", "AK", "--secret-stdin")
	c.fails("invalid endpoint", secret, "credential", "add", "--workspace", "ws1", "--name", "y", "--access-key-id", "AK", "--endpoint", "nope", "--secret-stdin")

	list := c.ok("", "credential", "list", "--workspace", "ws1")
	if !strings.Contains(list, "AKIACLI1") || !strings.Contains(list, "AKIACLI2") || !strings.Contains(list, "https://minio.example.com") {
		t.Fatalf("list:\n%s", list)
	}
	jsonList := c.ok("", "--json", "credential", "list", "--workspace", "ws1")
	var creds []credstore.Credential
	if err := json.Unmarshal([]byte(jsonList), &creds); err != nil || len(creds) != 2 {
		t.Fatalf("json list %s: %v", jsonList, err)
	}
	for _, s := range []string{list, jsonList} {
		if strings.Contains(s, secret) || strings.Contains(s, token) || strings.Contains(s, "v1.") {
			t.Fatalf("list shows a secret:\n%s", s)
		}
	}

	// Listing and removing need no sealing key.
	t.Setenv(credstore.SecretKeyEnv, "")
	c.ok("", "credential", "list", "--workspace", "ws1")
	c.fails(credstore.SecretKeyEnv+" is not set", secret, "credential", "add", "--workspace", "ws1", "--name", "z", "--access-key-id", "AK", "--secret-stdin")
	c.ok("", "credential", "remove", "--workspace", "ws1", "--name", "minio")
	c.ok("", "credential", "remove", "--workspace", "ws1", "--id", added.ID)
	c.fails("not found", "", "credential", "remove", "--workspace", "ws1", "--id", added.ID)
	c.fails("exactly one of --id and --name", "", "credential", "remove", "--workspace", "ws1")
	if out := c.ok("", "credential", "list", "--workspace", "ws1"); !strings.Contains(out, "no credential instances") {
		t.Fatalf("list after remove:\n%s", out)
	}
}

func TestCLIIntegrationLifecycle(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "integration", "create", "--workspace", "ws1", "--bucket", "customer-data", "--prefix", "exports/")
	for _, want := range []string{"pending", "External ID:", cliUserARN, `"sts:ExternalId"`, `"s3:prefix"`, "arn:aws:s3:::customer-data/exports/*", "set-role", "integration verify"} {
		if !strings.Contains(out, want) {
			t.Fatalf("create output lacks %q:\n%s", want, out)
		}
	}
	var view struct {
		Integration      credstore.Integration `json:"integration"`
		TrustPolicy      json.RawMessage       `json:"trust_policy"`
		PermissionPolicy json.RawMessage       `json:"permission_policy"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "--json", "integration", "show", "--workspace", "ws1", "--bucket", "customer-data")), &view); err != nil {
		t.Fatal(err)
	}
	extID := view.Integration.ExternalID
	if len(extID) < 32 || !strings.Contains(out, extID) || !json.Valid(view.TrustPolicy) || !json.Valid(view.PermissionPolicy) {
		t.Fatalf("show --json: %+v", view)
	}
	wantTrust, _ := credstore.TrustPolicy(cliUserARN, extID)
	var w1, w2 bytes.Buffer
	_ = json.Compact(&w1, wantTrust)
	_ = json.Compact(&w2, view.TrustPolicy)
	if w1.String() != w2.String() {
		t.Fatalf("trust policy in --json:\n%s", view.TrustPolicy)
	}

	c.fails("already has an AWS integration", "", "integration", "create", "--workspace", "ws1", "--role-arn", "arn:aws:iam::123456789012:role/r")
	c.fails("account ID", "", "integration", "set-role", "--workspace", "ws1", "--role-arn", "arn:aws:iam::123:role/r")
	c.fails("has no AWS integration", "", "integration", "show", "--workspace", "nobody")
	c.fails("invalid bucket", "", "integration", "create", "--workspace", "ws2", "--bucket", "a/b")
	_, _, err := c.run("", "integration", "show", "--workspace", "ws2")
	if !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("a rejected create wrote a record: %v", err)
	}

	out = c.ok("", "integration", "set-role", "--workspace", "ws1", "--role-arn", "arn:aws-cn:iam::123456789012:role/reader")
	if !strings.Contains(out, "arn:aws-cn:iam::123456789012:role/reader") || !strings.Contains(out, extID) {
		t.Fatalf("set-role:\n%s", out)
	}
	// The permission policy follows the role's partition.
	if out := c.ok("", "integration", "show", "--workspace", "ws1", "--bucket", "customer-data"); !strings.Contains(out, "arn:aws-cn:s3:::customer-data") {
		t.Fatalf("show after set-role:\n%s", out)
	}

	c.ok("", "integration", "remove", "--workspace", "ws1")
	c.fails("has no AWS integration", "", "integration", "remove", "--workspace", "ws1")
	out = c.ok("", "integration", "create", "--workspace", "ws1", "--role-arn", "arn:aws:iam::123456789012:role/reader")
	if strings.Contains(out, extID) || strings.Contains(out, "pending") {
		t.Fatalf("re-create reused the External ID or is pending:\n%s", out)
	}
}

func TestCLIPolicy(t *testing.T) {
	c := newCLI(t)
	got := c.ok("", "policy", "--bucket", "customer-data", "--prefix", "in/", "--only", "permission")
	want, _ := credstore.PermissionPolicy("aws", credstore.BucketScope{Bucket: "customer-data", Prefix: "in/"})
	if got != string(want) {
		t.Fatalf("--only permission:\n%s\nwant:\n%s", got, want)
	}
	trust := c.ok("", "policy", "--only", "trust", "--user-arn", cliUserARN, "--external-id", "abcdefghijklmnop", "--external-id", "qrstuvwxyz012345")
	wantTrust, _ := credstore.TrustPolicy(cliUserARN, "abcdefghijklmnop", "qrstuvwxyz012345")
	if trust != string(wantTrust) {
		t.Fatalf("--only trust:\n%s", trust)
	}
	human := c.ok("", "policy", "--bucket", "customer-data")
	if !strings.Contains(human, "# Permission policy") || strings.Contains(human, "Trust policy") {
		t.Fatalf("human:\n%s", human)
	}
	c.ok("", "integration", "create", "--workspace", "ws1", "--role-arn", "arn:aws-us-gov:iam::123456789012:role/r")
	var both map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.ok("", "--json", "policy", "--bucket", "b-bucket", "--workspace", "ws1")), &both); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(both["permission_policy"]), "arn:aws-us-gov:s3:::b-bucket") || !strings.Contains(string(both["trust_policy"]), cliUserARN) {
		t.Fatalf("--json --workspace: %s", both)
	}
	c.fails("--bucket is required", "", "policy")
	c.fails("go together", "", "policy", "--bucket", "abc", "--user-arn", cliUserARN)
	c.fails("invalid bucket", "", "policy", "--bucket", "x")
	c.fails("external_id", "", "policy", "--bucket", "abc", "--user-arn", cliUserARN, "--external-id", "")
}

func TestCLIRotation(t *testing.T) {
	c := newCLI(t)
	const role = "arn:aws:iam::000000000000:role/rotating"
	c.ok("", "integration", "create", "--workspace", "ws1", "--role-arn", role)
	c.ok("", "integration", "create", "--workspace", "ws2", "--role-arn", role)
	out := c.ok("", "integration", "rotate", "--workspace", "ws1")
	if !strings.Contains(out, "rotation started") || !strings.Contains(out, "accepts both") || !strings.Contains(out, "rotate --finish") {
		t.Fatalf("rotate:\n%s", out)
	}
	var rot credstore.Integration
	if err := json.Unmarshal([]byte(c.ok("", "--json", "integration", "rotate", "--workspace", "ws2")), &struct {
		Integration *credstore.Integration `json:"integration"`
	}{&rot}); err != nil {
		t.Fatal(err)
	}
	c.fails("already in progress", "", "integration", "rotate", "--workspace", "ws1")

	// The customer applied the trust policy for ws1's new External ID only.
	var ws1 struct {
		Integration credstore.Integration `json:"integration"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "--json", "integration", "show", "--workspace", "ws1")), &ws1); err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartS3(t, testenv.S3Config{
		Identities: []testenv.Identity{testenv.PlatformIdentity},
		Roles:      []testenv.Role{{ARN: role, TrustPolicy: testenv.TrustPolicyFor(cliUserARN, ws1.Integration.NextExternalID), Policies: []string{"p"}}},
		Policies:   []testenv.Policy{{Name: "p", Document: testenv.ReaderPolicyDocument}},
	})
	c.setup = func(a *app) {
		a.newResolver = func(s *credstore.Store) (*credstore.Resolver, error) {
			return credstore.NewResolver(credstore.ResolverConfig{Store: s, STS: srv.STSClient(t, nil)})
		}
	}

	// ws2's new ID is not in the trust policy: the rotation is not finished.
	c.fails("NOT finished", "", "integration", "rotate", "--finish", "--workspace", "ws2")
	var still struct {
		Integration credstore.Integration `json:"integration"`
	}
	_ = json.Unmarshal([]byte(c.ok("", "--json", "integration", "show", "--workspace", "ws2")), &still)
	if !still.Integration.Rotating() || still.Integration.ExternalID != rot.ExternalID {
		t.Fatalf("failed finish changed the record: %+v", still.Integration)
	}
	out = c.ok("", "integration", "rotate", "--finish", "--workspace", "ws1")
	if !strings.Contains(out, "with the new External ID: ok") || !strings.Contains(out, "finished: jobs now use "+ws1.Integration.NextExternalID) {
		t.Fatalf("finish:\n%s", out)
	}
	c.fails("no External ID rotation in progress", "", "integration", "rotate", "--finish", "--workspace", "ws1")
	// --cancel, and --force for a customer who wants to skip the check.
	c.ok("", "integration", "rotate", "--cancel", "--workspace", "ws2")
	c.ok("", "integration", "rotate", "--workspace", "ws2")
	c.ok("", "integration", "rotate", "--finish", "--force", "--workspace", "ws2")
	c.fails("go with --finish", "", "integration", "rotate", "--workspace", "ws2", "--force")
}
