package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

// resolveSecret returns the secret a credential resolves to with the
// keyring in S3INGEST_SECRET_KEY (as ingestd would), or the error.
func resolveSecret(t *testing.T, c *cli, ws, id string) (string, error) {
	t.Helper()
	kr, err := credstore.KeyringFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	rs := &testenv.RedisServer{Addr: strings.TrimSuffix(strings.TrimPrefix(c.url, "redis://"), "/0")}
	s, err := credstore.NewStore(credstore.StoreConfig{Redis: rs.Client(t), Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(context.Background(), ws, id)
	if err != nil {
		return "", err
	}
	v, err := res.Provider.Retrieve(context.Background())
	return v.SecretAccessKey, err
}

// TestSecretKeyReseal retires a key: credentials sealed with k1 open with
// k2 alone only after reseal.
func TestSecretKeyReseal(t *testing.T) {
	c := newCLI(t)
	k1, k2 := credstore.GenerateKey(), credstore.GenerateKey()
	t.Setenv(credstore.SecretKeyEnv, "k1:"+k1)
	var ids []string
	for _, n := range []string{"a", "b"} {
		var cr credstore.Credential
		if err := json.Unmarshal([]byte(c.ok("secret-"+n+"\n", "--json", "credential", "add", "--workspace", "ws1", "--name", n, "--access-key-id", "AKIA"+n, "--secret-stdin")), &cr); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cr.ID)
	}
	t.Setenv(credstore.SecretKeyEnv, "k2:"+k2+",k1:"+k1)
	if out := c.ok("", "secret-key", "ids"); !strings.Contains(out, "sealing key: k2") || !strings.Contains(out, "also opens:  k1") || strings.Contains(out, k1) {
		t.Errorf("secret-key ids:\n%s", out)
	}
	// Without reseal, k2 alone cannot open them.
	t.Setenv(credstore.SecretKeyEnv, "k2:"+k2)
	if _, err := resolveSecret(t, c, "ws1", ids[0]); err == nil {
		t.Fatal("a credential sealed with k1 opened with k2 alone")
	}
	c.fails("unknown key ID", "", "secret-key", "reseal")

	t.Setenv(credstore.SecretKeyEnv, "k2:"+k2+",k1:"+k1)
	out := c.ok("", "secret-key", "reseal")
	if !strings.Contains(out, "re-sealed 2 of 2 credentials under key k2") || !strings.Contains(out, "run it again") {
		t.Errorf("first reseal:\n%s", out)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(c.ok("", "--json", "secret-key", "reseal")), &rep); err != nil || rep["resealed"] != 0.0 || rep["scanned"] != 2.0 || rep["current_key_id"] != "k2" {
		t.Errorf("second reseal --json: %v %v", rep, err)
	}
	if out := c.ok("", "secret-key", "reseal"); !strings.Contains(out, "keys k1 can be removed") {
		t.Errorf("third reseal:\n%s", out)
	}
	t.Setenv(credstore.SecretKeyEnv, "k2:"+k2)
	for i, id := range ids {
		got, err := resolveSecret(t, c, "ws1", id)
		if want := "secret-" + []string{"a", "b"}[i]; err != nil || got != want {
			t.Errorf("after reseal, credential %s resolves to %q, %v; want %q", id, got, err, want)
		}
	}
	if out := c.ok("", "secret-key"); len(strings.TrimSpace(out)) != 44 {
		t.Errorf("secret-key no longer prints a key: %q", out)
	}
}

// TestCredentialUpdateAndTest lists a real bucket with a credential
// instance: refused on a private endpoint unless allowed, failing with the
// cause and fix after a bad key update, passing after a good one.
func TestCredentialUpdateAndTest(t *testing.T) {
	c := newCLI(t)
	s3 := testenv.S3(t)
	bucket := s3.UniqueBucket(t)
	s3.Put(t, bucket, "in/a.csv", []byte("id\n1\n"))
	var cred credstore.Credential
	if err := json.Unmarshal([]byte(c.ok(testenv.ReaderSecretKey, "--json", "credential", "add", "--workspace", "ws1", "--name", "reader",
		"--access-key-id", testenv.ReaderAccessKey, "--endpoint", s3.Endpoint, "--region", s3.Region, "--secret-stdin")), &cred); err != nil {
		t.Fatal(err)
	}
	testArgs := func(extra ...string) []string {
		return append([]string{"credential", "test", "--workspace", "ws1", "--name", "reader", "--bucket", bucket}, extra...)
	}

	t.Setenv(envAllowPrivate, "")
	out, errOut, code := c.execute(testArgs("--prefix", "in/")...)
	if code == 0 || !strings.Contains(out, "FAILED: ListObjectsV2 on s3://"+bucket+"/in/") || !strings.Contains(out, "is an internal address") ||
		!strings.Contains(out, "fix:   name a public S3 endpoint") || !strings.Contains(errOut, "ingestctl: credential "+cred.ID+" cannot list") {
		t.Errorf("private endpoint not refused (exit %d):\n%s\n%s", code, out, errOut)
	}

	t.Setenv(envAllowPrivate, "true")
	steps := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     []string // in stdout+stderr
	}{
		{"lists", "", testArgs("--prefix", "in/"), 0, []string{"OK: listed s3://" + bucket + "/in/; first object in/a.csv (5 B)", "access key ID " + testenv.ReaderAccessKey}},
		{"empty prefix", "", testArgs("--prefix", "none/"), 0, []string{"OK: listing s3://" + bucket + "/none/ is allowed; it holds no objects"}},
		{"no such bucket", "", []string{"credential", "test", "--workspace", "ws1", "--id", cred.ID, "--bucket", "no-such-bucket-x1"}, 1, []string{"FAILED", "cause: "}},
		{"update to a wrong secret", "wrongSecretValue0123456789abcdefghij\n", []string{"credential", "update", "--workspace", "ws1", "--name", "reader",
			"--access-key-id", testenv.ReaderAccessKey, "--secret-stdin"}, 0, []string{"credential " + cred.ID + " (reader) of workspace ws1 now uses access key ID " + testenv.ReaderAccessKey}},
		{"rejected keys", "", testArgs(), 1, []string{"FAILED", "fix: store the current key pair with `ingestctl credential update --workspace ws1 --id " + cred.ID}},
		{"update back", testenv.ReaderSecretKey + "\n", []string{"credential", "update", "--workspace", "ws1", "--id", cred.ID,
			"--access-key-id", testenv.ReaderAccessKey, "--secret-stdin"}, 0, []string{"now uses access key ID"}},
		{"lists again", "", testArgs("--prefix", "in/"), 0, []string{"OK: listed"}},
		{"secret never a flag", "", []string{"credential", "update", "--workspace", "ws1", "--id", cred.ID, "--access-key-id", "AK", "--secret", "x"}, 1, []string{"unknown flag: --secret"}},
		{"unknown credential", "s\n", []string{"credential", "update", "--workspace", "ws1", "--name", "nope", "--access-key-id", "AK", "--secret-stdin"}, 1,
			[]string{"not found", "fix: list the workspace's credentials with `ingestctl credential list --workspace ws1`"}},
		{"one selector", "", []string{"credential", "test", "--workspace", "ws1", "--bucket", bucket}, 1, []string{"give exactly one of --id and --name"}},
	}
	for _, s := range steps {
		c.stdin = s.stdin
		out, errOut, code := c.execute(s.args...)
		if code != s.wantCode {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", s.name, code, s.wantCode, out, errOut)
		}
		for _, w := range s.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("%s: output lacks %q:\n%s\n%s", s.name, w, out, errOut)
			}
		}
	}
	c.stdin = ""
	var res credTestResult
	out, _, _ = c.execute("--json", "credential", "test", "--workspace", "ws1", "--id", cred.ID, "--bucket", "no-such-bucket-x1")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.OK || res.Kind != "no_such_bucket" || res.Fix == "" {
		t.Errorf("--json test of a missing bucket: %+v %v\n%s", res, err, out)
	}
}
