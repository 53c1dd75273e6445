package credstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

// TestResealRetiresOldKey: records sealed under key A are re-sealed under
// the current key B, after which a keyring without A opens them all.
func TestResealRetiresOldKey(t *testing.T) {
	ctx := testCtx(t)
	rdb := testenv.Redis(t).Client(t)
	keyA, keyB := credstore.GenerateKey(), credstore.GenerateKey()
	ringA := mustKeyring(t, "a:"+keyA)
	old := storeOn(t, rdb, ringA)
	var ids []struct{ ws, id string }
	for _, ws := range []string{"ws-1", "ws-2"} {
		for _, name := range []string{"one", "two"} {
			in := credstore.CredentialInput{Name: name, AccessKeyID: "AKIA" + strings.ToUpper(name), SecretAccessKey: plainSecret}
			if name == "two" {
				in.SessionToken = plainToken
			}
			c, err := old.AddCredential(ctx, ws, in)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, struct{ ws, id string }{ws, c.ID})
		}
	}
	// Rotate: B seals, A still opens.
	rotated := storeOn(t, rdb, mustKeyring(t, "b:"+keyB+",a:"+keyA))
	rep, err := rotated.Reseal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scanned != 4 || rep.Resealed != 4 || rep.Current != "b" {
		t.Fatalf("Reseal = %+v, want 4 scanned, 4 resealed, current b", rep)
	}
	// Idempotent.
	if rep, err := rotated.Reseal(ctx); err != nil || rep.Resealed != 0 || rep.Scanned != 4 {
		t.Fatalf("second Reseal = %+v, %v; want nothing left to do", rep, err)
	}
	// A is retired: B alone opens every record, secrets intact.
	onlyB := storeOn(t, rdb, mustKeyring(t, "b:"+keyB))
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: onlyB})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ids {
		res, err := r.Resolve(ctx, c.ws, c.id)
		if err != nil {
			t.Fatalf("resolve %s/%s with key A retired: %v", c.ws, c.id, err)
		}
		v, err := res.Provider.Retrieve(ctx)
		if err != nil || v.SecretAccessKey != plainSecret {
			t.Fatalf("secret of %s after reseal = %v, %v", c.id, v.SecretAccessKey == plainSecret, err)
		}
		got, _ := onlyB.GetCredential(ctx, c.ws, c.id)
		if got.KeyID != "b" {
			t.Errorf("credential %s key ID = %q, want b", c.id, got.KeyID)
		}
	}
	// A keyring that lacks the sealing key fails naming the record.
	other := storeOn(t, rdb, mustKeyring(t, "c:"+credstore.GenerateKey()))
	if _, err := other.Reseal(ctx); !errors.Is(err, credstore.ErrUnknownKeyID) || !strings.Contains(err.Error(), "credential cred_") {
		t.Fatalf("Reseal without the sealing key = %v, want ErrUnknownKeyID naming the credential", err)
	}
}

// TestUpdateCredentialRotatesKeysInPlace: the ID and name stay, jobs
// resolve the new keys, the old session token is gone, and the secret is
// sealed (never stored in clear).
func TestUpdateCredentialRotatesKeysInPlace(t *testing.T) {
	ctx := testCtx(t)
	s, rdb := newStore(t)
	c, err := s.AddCredential(ctx, "ws", credstore.CredentialInput{Name: "minio", AccessKeyID: "AKIAOLD",
		SecretAccessKey: "old-secret-0123456789", SessionToken: plainToken, Endpoint: "https://minio.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const newSecret = "NewSecretAfterRotation0123456789"
	up, err := s.UpdateCredential(ctx, "ws", c.ID, credstore.KeyUpdate{AccessKeyID: "AKIANEW", SecretAccessKey: newSecret})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != c.ID || up.Name != "minio" || up.Endpoint != c.Endpoint || up.AccessKeyID != "AKIANEW" || up.HasSessionToken {
		t.Fatalf("updated credential = %+v", up)
	}
	r, _ := credstore.NewResolver(credstore.ResolverConfig{Store: s})
	res, err := r.Resolve(ctx, "ws", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := res.Provider.Retrieve(ctx)
	if err != nil || v.AccessKeyID != "AKIANEW" || v.SecretAccessKey != newSecret || v.SessionToken != "" {
		t.Fatalf("resolved after update: %s %v token=%q err=%v", v.AccessKeyID, v.SecretAccessKey == newSecret, v.SessionToken, err)
	}
	if dump := dumpRedis(t, rdb); strings.Contains(dump, newSecret) || strings.Contains(dump, plainToken) {
		t.Fatal("a secret is stored in clear after the update")
	}
	tests := []struct {
		name  string
		ws    string
		id    string
		up    credstore.KeyUpdate
		field string
		isErr error
	}{
		{"missing secret", "ws", c.ID, credstore.KeyUpdate{AccessKeyID: "AKIA"}, "secret_access_key", nil},
		{"missing key id", "ws", c.ID, credstore.KeyUpdate{SecretAccessKey: "x"}, "access_key_id", nil},
		{"other workspace", "ws-other", c.ID, credstore.KeyUpdate{AccessKeyID: "AKIA", SecretAccessKey: "x"}, "", credstore.ErrNotFound},
		{"unknown id", "ws", "cred_0000000000", credstore.KeyUpdate{AccessKeyID: "AKIA", SecretAccessKey: "x"}, "", credstore.ErrNotFound},
	}
	for _, tt := range tests {
		_, err := s.UpdateCredential(ctx, tt.ws, tt.id, tt.up)
		var ve *credstore.ValidationError
		switch {
		case tt.isErr != nil && !errors.Is(err, tt.isErr):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.isErr)
		case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field):
			t.Errorf("%s: %v, want a validation error of %s", tt.name, err, tt.field)
		}
	}
}

func mustKeyring(t *testing.T, text string) *credstore.Keyring {
	t.Helper()
	k, err := credstore.ParseKeyring(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestValidateEndpointIsBounded(t *testing.T) {
	long := "https://" + strings.Repeat("a", credstore.MaxEndpointBytes) + ".example.com"
	var ve *credstore.ValidationError
	if err := credstore.ValidateEndpoint(long); !errors.As(err, &ve) || ve.Field != "endpoint" || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("ValidateEndpoint(%d bytes) = %v, want a bounded-length error naming the endpoint", len(long), err)
	}
	if err := credstore.ValidateEndpoint("https://minio.example.com"); err != nil {
		t.Fatal(err)
	}
}
