package credstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/s3ingest/s3ingest/credstore"
)

func TestSealRoundTripAndAAD(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t)
	sealed, err := kr.Seal([]byte("s3cr3t"), "ws=a|cred=1|field=secret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1."+kr.CurrentKeyID()+".") {
		t.Fatalf("sealed form %q lacks version and key ID %s", sealed, kr.CurrentKeyID())
	}
	if strings.Contains(sealed, "s3cr3t") {
		t.Fatal("plaintext visible in sealed form")
	}
	pt, err := kr.Open(sealed, "ws=a|cred=1|field=secret")
	if err != nil || string(pt) != "s3cr3t" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	// Same key, other record: authentication fails.
	if _, err := kr.Open(sealed, "ws=b|cred=1|field=secret"); !errors.Is(err, credstore.ErrSealAuth) {
		t.Fatalf("Open with other AAD: %v, want ErrSealAuth", err)
	}
	// Two seals of the same plaintext differ (random nonce).
	again, _ := kr.Seal([]byte("s3cr3t"), "x")
	if again == sealed {
		t.Fatal("sealing is deterministic")
	}
}

func TestSealWrongKey(t *testing.T) {
	t.Parallel()
	key1 := credstore.GenerateKey()
	kr1, _ := credstore.ParseKeyring(key1)
	sealed, err := kr1.Seal([]byte("secret"), "aad")
	if err != nil {
		t.Fatal(err)
	}

	// A different key with the same ID (e.g. an operator replaced the key
	// but kept its name): authentication failure, clear message.
	kr2, _ := credstore.ParseKeyring(kr1.CurrentKeyID() + ":" + credstore.GenerateKey())
	_, err = kr2.Open(sealed, "aad")
	if !errors.Is(err, credstore.ErrSealAuth) || !strings.Contains(err.Error(), "sealed with a different key") {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "secret") && !strings.Contains(err.Error(), "different key") {
		t.Fatalf("error leaks: %v", err)
	}

	// A different key with a different (derived) ID: unknown key ID.
	kr3, _ := credstore.ParseKeyring(credstore.GenerateKey())
	_, err = kr3.Open(sealed, "aad")
	if !errors.Is(err, credstore.ErrUnknownKeyID) || !strings.Contains(err.Error(), kr1.CurrentKeyID()) {
		t.Fatalf("unknown key: %v", err)
	}

	// Tampered ciphertext.
	bad := sealed[:len(sealed)-2] + "AA"
	if _, err := kr1.Open(bad, "aad"); !errors.Is(err, credstore.ErrSealAuth) && !errors.Is(err, credstore.ErrSealedFormat) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := kr1.Open("plaintext", "aad"); !errors.Is(err, credstore.ErrSealedFormat) {
		t.Fatalf("not sealed: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := credstore.GenerateKey(), credstore.GenerateKey()
	old, err := credstore.ParseKeyring("k1:" + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, _ := old.Seal([]byte("v"), "aad")

	both, err := credstore.ParseKeyring("k2:" + newKey + ", k1:" + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if both.CurrentKeyID() != "k2" || fmt.Sprint(both.KeyIDs()) != "[k2 k1]" {
		t.Fatalf("current %s, ids %v", both.CurrentKeyID(), both.KeyIDs())
	}
	if pt, err := both.Open(sealedOld, "aad"); err != nil || string(pt) != "v" {
		t.Fatalf("open old with rotated keyring: %q %v", pt, err)
	}
	if !both.NeedsReseal(sealedOld) {
		t.Fatal("NeedsReseal(old) = false")
	}
	sealedNew, _ := both.Seal([]byte("v"), "aad")
	if id, _, _ := credstore.SealedKeyID(sealedNew); id != "k2" {
		t.Fatalf("new values sealed with %s", id)
	}
	if _, err := old.Open(sealedNew, "aad"); !errors.Is(err, credstore.ErrUnknownKeyID) {
		t.Fatalf("old keyring opening new value: %v", err)
	}
}

func TestParseKeyringErrors(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tc := range []struct {
		in, want string
		is       error
	}{
		{"", "is not set", credstore.ErrSecretKeyMissing},
		{"   ", "is not set", credstore.ErrSecretKeyMissing},
		{"not base64!!", "not valid base64", credstore.ErrSecretKeyInvalid},
		{short, "16 bytes, AES-256 needs exactly 32", credstore.ErrSecretKeyInvalid},
		{"a:" + credstore.GenerateKey() + ",a:" + credstore.GenerateKey(), "appears twice", credstore.ErrSecretKeyInvalid},
		{credstore.GenerateKey() + "," + credstore.GenerateKey(), "has no ID", credstore.ErrSecretKeyInvalid},
		{"bad.id:" + credstore.GenerateKey(), "key ID", credstore.ErrSecretKeyInvalid},
	} {
		_, err := credstore.ParseKeyring(tc.in)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeyring(%.20q) = %v, want %v containing %q", tc.in, err, tc.is, tc.want)
		}
	}
	if !strings.Contains(credstore.ErrSecretKeyMissing.Error(), credstore.SecretKeyEnv) {
		t.Fatal("missing-key error does not name the variable")
	}
	var nilRing *credstore.Keyring
	if _, err := nilRing.Seal([]byte("x"), ""); !errors.Is(err, credstore.ErrSecretKeyMissing) {
		t.Fatalf("nil keyring Seal: %v", err)
	}
}

func TestKeyringFromEnv(t *testing.T) {
	key := credstore.GenerateKey()
	t.Setenv(credstore.SecretKeyEnv, key)
	kr, err := credstore.KeyringFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(key)
	if kr.CurrentKeyID() != credstore.DeriveKeyID(raw) || len(kr.CurrentKeyID()) != 8 {
		t.Fatalf("derived key ID %q", kr.CurrentKeyID())
	}
	if strings.Contains(fmt.Sprintf("%v %#v %s", kr, kr, kr), key) {
		t.Fatal("keyring prints its key")
	}
	t.Setenv(credstore.SecretKeyEnv, "")
	if _, err := credstore.KeyringFromEnv(); !errors.Is(err, credstore.ErrSecretKeyMissing) {
		t.Fatalf("empty env: %v", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	const secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET", "FQoGZXIvYXdzTOKEN"
	in := credstore.CredentialInput{Name: "n", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: secret, SessionToken: token, Region: "eu-west-1"}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(f, in), fmt.Sprintf(f, &in), fmt.Sprintf(f, in.SecretAccessKey), fmt.Sprintf(f, []credstore.CredentialInput{in}))
	}
	outs = append(outs, in.String(), fmt.Sprint(struct{ C credstore.CredentialInput }{in}))
	j, _ := json.Marshal(in)
	outs = append(outs, string(j))
	tx, _ := in.SecretAccessKey.MarshalText()
	outs = append(outs, string(tx))

	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	log.Info("x", zap.Object("cred", in), zap.Any("any", in), zap.Stringer("s", in.SecretAccessKey), zap.Any("secret", in.SecretAccessKey))
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			outs = append(outs, fmt.Sprintf("%s=%v", k, v))
		}
	}
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel)).Info("y", zap.Any("cred", in), zap.Object("obj", in))
	outs = append(outs, buf.String())

	all := strings.Join(outs, "\n")
	hexSecret := fmt.Sprintf("%x", secret)
	for _, leak := range []string{secret, token, hexSecret, "SECRET", "TOKEN"} {
		if strings.Contains(all, leak) {
			t.Fatalf("secret leaked (%q) in:\n%s", leak, all)
		}
	}
	if !strings.Contains(all, credstore.Redacted) || !strings.Contains(all, "AKIAEXAMPLE") {
		t.Fatalf("expected redaction marker and the access key ID in:\n%s", all)
	}
	if in.SecretAccessKey.Reveal() != secret {
		t.Fatal("Reveal")
	}
}
