package credstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/s3ingest/s3ingest/credstore"
)

const (
	plainSecret = "SuperSecretAccessKeyValue0123456789abcdEF"
	plainToken  = "SessionTokenValueThatMustNotBeStoredInClear0123"
)

// dumpRedis returns every key and every value of every type in the
// database, as text.
func dumpRedis(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	ctx := testCtx(t)
	var b strings.Builder
	iter := rdb.Scan(ctx, 0, "*", 0).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ := rdb.Type(ctx, k).Val()
		fmt.Fprintf(&b, "%s (%s): ", k, typ)
		switch typ {
		case "string":
			b.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				fmt.Fprintf(&b, "%s=%s ", f, v)
			}
		case "set":
			b.WriteString(strings.Join(rdb.SMembers(ctx, k).Val(), " "))
		case "list":
			b.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), " "))
		case "zset":
			b.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), " "))
		default:
			t.Fatalf("unexpected key type %s for %s", typ, k)
		}
		// DUMP is the serialised value: catches anything the above misses.
		b.WriteString(" dump=" + rdb.Dump(ctx, k).Val())
		b.WriteByte('\n')
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCredentialCRUD(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := testCtx(t)
	c, err := s.AddCredential(ctx, "ws-a", credstore.CredentialInput{
		Name: " prod reader ", AccessKeyID: "AKIAEXAMPLE000001", SecretAccessKey: plainSecret,
		SessionToken: plainToken, Region: "eu-west-1", Endpoint: "https://s3.example.com:9000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "cred_") || c.Name != "prod reader" || !c.HasSessionToken || c.KeyID != s.Keyring().CurrentKeyID() || c.CreatedAt.IsZero() {
		t.Fatalf("added %+v", c)
	}
	c2, err := s.AddCredential(ctx, "ws-a", credstore.CredentialInput{Name: "aaa", AccessKeyID: "AKIA2", SecretAccessKey: "x2"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCredential(ctx, "ws-a", c.ID)
	if err != nil || *got != *c {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, c)
	}
	byName, err := s.CredentialByName(ctx, "ws-a", "prod reader")
	if err != nil || byName.ID != c.ID {
		t.Fatalf("ByName = %+v, %v", byName, err)
	}
	list, err := s.ListCredentials(ctx, "ws-a")
	if err != nil || len(list) != 2 || list[0].ID != c2.ID || list[1].ID != c.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if other, _ := s.ListCredentials(ctx, "ws-b"); len(other) != 0 {
		t.Fatalf("ws-b sees %+v", other)
	}

	// Duplicate name in the same workspace: refused; in another: fine.
	if _, err := s.AddCredential(ctx, "ws-a", credstore.CredentialInput{Name: "aaa", AccessKeyID: "AKIA3", SecretAccessKey: "x"}); !errors.Is(err, credstore.ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := s.AddCredential(ctx, "ws-b", credstore.CredentialInput{Name: "aaa", AccessKeyID: "AKIA3", SecretAccessKey: "x"}); err != nil {
		t.Fatalf("same name in other workspace: %v", err)
	}

	if err := s.RemoveCredential(ctx, "ws-a", c2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCredential(ctx, "ws-a", c2.ID); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("Get after remove: %v", err)
	}
	if err := s.RemoveCredential(ctx, "ws-a", c2.ID); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	// The name is free again.
	if _, err := s.AddCredential(ctx, "ws-a", credstore.CredentialInput{Name: "aaa", AccessKeyID: "AKIA4", SecretAccessKey: "x"}); err != nil {
		t.Fatalf("reuse name after remove: %v", err)
	}
}

func TestCredentialValidation(t *testing.T) {
	t.Parallel()
	s, rdb := newStore(t)
	ctx := testCtx(t)
	ok := credstore.CredentialInput{Name: "n", AccessKeyID: "AKIA", SecretAccessKey: "s"}
	for _, tc := range []struct {
		field string
		ws    string
		mod   func(*credstore.CredentialInput)
	}{
		{"workspace", "", nil},
		{"workspace", "bad{ws}", nil},
		{"workspace", strings.Repeat("w", 129), nil},
		{"name", "ws", func(c *credstore.CredentialInput) { c.Name = "  " }},
		{"name", "ws", func(c *credstore.CredentialInput) { c.Name = "a\nb" }},
		{"access_key_id", "ws", func(c *credstore.CredentialInput) { c.AccessKeyID = "" }},
		{"access_key_id", "ws", func(c *credstore.CredentialInput) { c.AccessKeyID = "AK IA" }},
		{"secret_access_key", "ws", func(c *credstore.CredentialInput) { c.SecretAccessKey = "" }},
		{"secret_access_key", "ws", func(c *credstore.CredentialInput) { c.SecretAccessKey = plainSecret + "\n" }},
		{"session_token", "ws", func(c *credstore.CredentialInput) { c.SessionToken = "tok en" }},
		{"region", "ws", func(c *credstore.CredentialInput) { c.Region = "EU West" }},
		{"endpoint", "ws", func(c *credstore.CredentialInput) { c.Endpoint = "s3.example.com" }},
		{"endpoint", "ws", func(c *credstore.CredentialInput) { c.Endpoint = "ftp://s3.example.com" }},
		{"endpoint", "ws", func(c *credstore.CredentialInput) { c.Endpoint = "https://user:pw@s3.example.com" }},
	} {
		in := ok
		if tc.mod != nil {
			tc.mod(&in)
		}
		_, err := s.AddCredential(ctx, tc.ws, in)
		var ve *credstore.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: got %v, want ValidationError on %s", tc.field, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), plainSecret) {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("invalid inputs wrote %d keys", n)
	}
	// Without a keyring: a clear error, nothing written.
	noKey := storeOn(t, rdb, nil)
	if _, err := noKey.AddCredential(ctx, "ws", ok); !errors.Is(err, credstore.ErrSecretKeyMissing) || !strings.Contains(err.Error(), credstore.SecretKeyEnv) {
		t.Fatalf("no keyring: %v", err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("wrote %d keys without a keyring", n)
	}
}

func TestRedisHoldsNoPlaintextSecret(t *testing.T) {
	t.Parallel()
	s, rdb := newStore(t)
	ctx := testCtx(t)
	c, err := s.AddCredential(ctx, "ws-a", credstore.CredentialInput{Name: "n", AccessKeyID: "AKIAVISIBLE", SecretAccessKey: plainSecret, SessionToken: plainToken})
	if err != nil {
		t.Fatal(err)
	}
	dump := dumpRedis(t, rdb)
	if !strings.Contains(dump, "AKIAVISIBLE") || !strings.Contains(dump, c.ID) {
		t.Fatalf("dump does not show the record at all:\n%s", dump)
	}
	for _, secret := range []string{plainSecret, plainToken, plainSecret[:16], plainToken[:16]} {
		if strings.Contains(dump, secret) {
			t.Fatalf("plaintext %q found in Redis:\n%s", secret, dump)
		}
	}
	h := rdb.HGetAll(ctx, "s3ingest:ws:{ws-a}:cred:"+c.ID).Val()
	if !strings.HasPrefix(h["secret_access_key"], "v1."+s.Keyring().CurrentKeyID()+".") || !strings.HasPrefix(h["session_token"], "v1.") {
		t.Fatalf("sealed fields: %v", h)
	}
	// And the resolver gets the real values back.
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(ctx, "ws-a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := res.Provider.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKIAVISIBLE" || creds.SecretAccessKey != plainSecret || creds.SessionToken != plainToken {
		t.Fatalf("resolved %v, %v", creds.AccessKeyID, err)
	}
	if res.Source != "credential:"+c.ID || res.CredentialID != c.ID {
		t.Fatalf("source %q", res.Source)
	}
}

func TestWrongKeyFailsToUnseal(t *testing.T) {
	t.Parallel()
	s, rdb := newStore(t)
	ctx := testCtx(t)
	c, err := s.AddCredential(ctx, "ws", credstore.CredentialInput{Name: "n", AccessKeyID: "AKIA", SecretAccessKey: plainSecret})
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(kr *credstore.Keyring) error {
		r, err := credstore.NewResolver(credstore.ResolverConfig{Store: storeOn(t, rdb, kr)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Resolve(ctx, "ws", c.ID)
		return err
	}
	// Another key, derived ID: the sealing key is not in the keyring.
	err = resolve(newKeyring(t))
	if !errors.Is(err, credstore.ErrUnknownKeyID) || !credstore.IsPermanent(err) || !strings.Contains(err.Error(), c.ID) {
		t.Fatalf("other keyring: %v", err)
	}
	// Another key under the same ID: authentication fails.
	sameID, _ := credstore.ParseKeyring(s.Keyring().CurrentKeyID() + ":" + credstore.GenerateKey())
	err = resolve(sameID)
	if !errors.Is(err, credstore.ErrSealAuth) || !strings.Contains(err.Error(), "sealed with a different key") {
		t.Fatalf("same ID, different key: %v", err)
	}
	if strings.Contains(err.Error(), plainSecret) {
		t.Fatal("error leaks the secret")
	}
	// No keyring at all.
	if err := resolve(nil); !errors.Is(err, credstore.ErrSecretKeyMissing) {
		t.Fatalf("no keyring: %v", err)
	}
}

func TestCredentialOfAnotherWorkspaceRefused(t *testing.T) {
	t.Parallel()
	s, rdb := newStore(t)
	ctx := testCtx(t)
	cb, err := s.AddCredential(ctx, "ws-b", credstore.CredentialInput{Name: "b", AccessKeyID: "AKIAB", SecretAccessKey: plainSecret})
	if err != nil {
		t.Fatal(err)
	}
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	_, errForeign := r.Resolve(ctx, "ws-a", cb.ID)
	_, errMissing := r.Resolve(ctx, "ws-a", "cred_doesnotexist0000")
	for _, err := range []error{errForeign, errMissing} {
		if !errors.Is(err, credstore.ErrNotFound) || !credstore.IsPermanent(err) {
			t.Fatalf("foreign credential: %v", err)
		}
		if strings.Contains(err.Error(), "ws-b") {
			t.Fatalf("error leaks the owning workspace: %v", err)
		}
	}
	// Same message shape whether it exists elsewhere or not.
	if strings.ReplaceAll(errForeign.Error(), cb.ID, "X") != strings.ReplaceAll(errMissing.Error(), "cred_doesnotexist0000", "X") {
		t.Fatalf("messages differ:\n%v\n%v", errForeign, errMissing)
	}
	if _, err := s.GetCredential(ctx, "ws-a", cb.ID); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("Get from ws-a: %v", err)
	}
	if err := s.RemoveCredential(ctx, "ws-a", cb.ID); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("Remove from ws-a: %v", err)
	}

	// Copying B's record into A's namespace (an attacker with Redis write
	// access, or a botched migration): the sealed secret is bound to B.
	src := rdb.HGetAll(ctx, "s3ingest:ws:{ws-b}:cred:"+cb.ID).Val()
	copied := map[string]any{}
	for k, v := range src {
		copied[k] = v
	}
	copied["workspace_id"] = "ws-a"
	if err := rdb.HSet(ctx, "s3ingest:ws:{ws-a}:cred:"+cb.ID, copied).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(ctx, "ws-a", cb.ID)
	if !errors.Is(err, credstore.ErrSealAuth) {
		t.Fatalf("copied record: %v, want ErrSealAuth", err)
	}
	// B still works.
	if _, err := r.Resolve(ctx, "ws-b", cb.ID); err != nil {
		t.Fatal(err)
	}
	// Malformed IDs never reach Redis keys.
	if _, err := r.Resolve(ctx, "ws-a", "../ws-b}:cred:x"); err == nil || !strings.Contains(err.Error(), "credential_id") {
		t.Fatalf("malformed id: %v", err)
	}
}

func TestListNeverReturnsSecrets(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := testCtx(t)
	if _, err := s.AddCredential(ctx, "ws", credstore.CredentialInput{Name: "n", AccessKeyID: "AKIA", SecretAccessKey: plainSecret, SessionToken: plainToken}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListCredentials(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%+v %#v", list, list)
	if strings.Contains(out, plainSecret) || strings.Contains(out, plainToken) || strings.Contains(out, "v1.") {
		t.Fatalf("list exposes secrets or sealed values: %s", out)
	}
}

func TestResolvedNeverPrintsKeys(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := testCtx(t)
	c, err := s.AddCredential(ctx, "ws", credstore.CredentialInput{Name: "n", AccessKeyID: "AKIAPRINT", SecretAccessKey: plainSecret, SessionToken: plainToken, Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	res, err := r.Resolve(ctx, "ws", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(res)
	jv, _ := json.Marshal(*res)
	core, logs := observer.New(zapcore.DebugLevel)
	zap.New(core).Info("resolved", zap.Object("res", res), zap.Any("any", res), zap.Any("val", *res))
	out := fmt.Sprintf("%v %+v %#v %s %v %+v", res, res, res, res, *res, *res) + string(j) + string(jv)
	for _, e := range logs.All() {
		out += fmt.Sprint(e.ContextMap())
	}
	if strings.Contains(out, plainSecret) || strings.Contains(out, plainToken) || !strings.Contains(out, "credential:"+c.ID) {
		t.Fatalf("Resolved printed:\n%s", out)
	}
}
