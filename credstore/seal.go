package credstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// SecretKeyEnv is the environment variable that holds the sealing keyring.
//
// Its value is either the base64 of exactly 32 random bytes (one key, whose
// ID is derived from the key), or a comma-separated list of id:base64 pairs
// ("k2:...,k1:..."): the first key seals, every key opens, so keys can be
// rotated by prepending a new one and re-sealing at leisure.
const SecretKeyEnv = "S3INGEST_SECRET_KEY"

// sealVersion prefixes every sealed value so the format can evolve.
const sealVersion = "v1"

// Errors returned by the keyring. They are wrapped with detail; test with
// errors.Is.
var (
	// ErrSecretKeyMissing means S3INGEST_SECRET_KEY is unset or empty.
	ErrSecretKeyMissing = permanentSentinel(SecretKeyEnv + " is not set: set it to 32 random bytes in base64 (e.g. from `head -c 32 /dev/urandom | base64`), the same value in every process that stores or resolves credentials")
	// ErrSecretKeyInvalid means the keyring text cannot be parsed (bad
	// base64, wrong key length, malformed or duplicate key ID).
	ErrSecretKeyInvalid = permanentSentinel(SecretKeyEnv + " is invalid")
	// ErrUnknownKeyID means a sealed value names a key ID that the keyring
	// does not hold (the key was rotated out too early, or another
	// deployment's data was copied in).
	ErrUnknownKeyID = permanentSentinel("sealed with an unknown key ID")
	// ErrSealAuth means the ciphertext failed authentication: it was sealed
	// with a different key that has the same ID, tampered with, or copied
	// from another record or workspace.
	ErrSealAuth = permanentSentinel("cannot unseal: sealed with a different key, or the value was tampered with or copied from another record")
	// ErrSealedFormat means the stored value is not a sealed value at all.
	ErrSealedFormat = permanentSentinel("malformed sealed value")
)

// Keyring holds the AES-256-GCM keys used to seal secrets at rest. The
// first key seals; all keys open. A Keyring is safe for concurrent use.
type Keyring struct {
	current string
	ids     []string
	aeads   map[string]cipher.AEAD
}

// GenerateKey returns a new random 32-byte key, base64 encoded, suitable as
// the value of S3INGEST_SECRET_KEY.
func GenerateKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("credstore: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// KeyringFromEnv parses S3INGEST_SECRET_KEY. It returns an error wrapping
// ErrSecretKeyMissing when the variable is unset or empty.
func KeyringFromEnv() (*Keyring, error) {
	return ParseKeyring(os.Getenv(SecretKeyEnv))
}

// ParseKeyring parses a keyring in the S3INGEST_SECRET_KEY format: the
// base64 of 32 bytes, or "id1:base64,id2:base64" (first ID seals). Key IDs
// are 1–32 characters of [A-Za-z0-9_-]. Errors never contain key material.
func ParseKeyring(text string) (*Keyring, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, ErrSecretKeyMissing
	}
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	parts := strings.Split(text, ",")
	for i, part := range parts {
		part = strings.TrimSpace(part)
		var id, b64 string
		if k, v, ok := strings.Cut(part, ":"); ok {
			id, b64 = strings.TrimSpace(k), strings.TrimSpace(v)
			if err := validKeyID(id); err != nil {
				return nil, fmt.Errorf("%w: key %d: %v", ErrSecretKeyInvalid, i+1, err)
			}
		} else {
			if len(parts) > 1 {
				return nil, fmt.Errorf("%w: key %d has no ID: with several keys write id1:base64,id2:base64", ErrSecretKeyInvalid, i+1)
			}
			b64 = part
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrSecretKeyInvalid, i+1, err)
		}
		if id == "" {
			id = DeriveKeyID(key)
		}
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("%w: key ID %q appears twice", ErrSecretKeyInvalid, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrSecretKeyInvalid, i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrSecretKeyInvalid, i+1, err)
		}
		kr.aeads[id] = aead
		kr.ids = append(kr.ids, id)
	}
	kr.current = kr.ids[0]
	return kr, nil
}

// DeriveKeyID returns the ID of a key given without one: the first 8 hex
// characters of the SHA-256 of the key bytes.
func DeriveKeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

func validKeyID(id string) error {
	if id == "" || len(id) > 32 {
		return fmt.Errorf("key ID must be 1-32 characters, got %d", len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("key ID %q may only contain letters, digits, '_' and '-'", id)
		}
	}
	return nil
}

func decodeKey(b64 string) ([]byte, error) {
	if b64 == "" {
		return nil, errors.New("empty key")
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(b64); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("not valid base64 (generate a key with `head -c 32 /dev/urandom | base64`)")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("key is %d bytes, AES-256 needs exactly 32 (generate one with `head -c 32 /dev/urandom | base64`)", len(key))
	}
	return key, nil
}

// CurrentKeyID returns the ID of the key that seals new values.
func (k *Keyring) CurrentKeyID() string { return k.current }

// KeyIDs returns the IDs of all keys, the sealing key first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// String describes the keyring without key material.
func (k *Keyring) String() string {
	if k == nil {
		return "Keyring(none)"
	}
	return fmt.Sprintf("Keyring(current=%s, keys=%s)", k.current, strings.Join(k.ids, ","))
}

// GoString is String: key material never reaches %#v.
func (k *Keyring) GoString() string { return k.String() }

// Seal encrypts plaintext with the current key. aad binds the ciphertext to
// its place (workspace, record and field): Open with a different aad fails.
// The result is "v1.<keyID>.<base64url(nonce|ciphertext)>".
func (k *Keyring) Seal(plaintext []byte, aad string) (string, error) {
	if k == nil {
		return "", ErrSecretKeyMissing
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: random nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(aad))
	return sealVersion + "." + k.current + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value produced by Seal with the same aad. Errors wrap
// ErrSealedFormat, ErrUnknownKeyID or ErrSealAuth and never contain the
// plaintext.
func (k *Keyring) Open(sealed, aad string) ([]byte, error) {
	if k == nil {
		return nil, ErrSecretKeyMissing
	}
	id, body, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q: this process's %s holds key IDs %s; add the key that sealed it (id:base64) to the keyring", ErrUnknownKeyID, id, SecretKeyEnv, strings.Join(k.ids, ", "))
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: bad ciphertext encoding", ErrSealedFormat)
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%w (key ID %q)", ErrSealAuth, id)
	}
	return pt, nil
}

// SealedKeyID returns the key ID recorded in a sealed value and the encoded
// ciphertext, without decrypting. Useful to find values still sealed with
// an old key during rotation.
func SealedKeyID(sealed string) (keyID, body string, err error) {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != sealVersion || parts[1] == "" || parts[2] == "" {
		return "", "", fmt.Errorf("%w: expected %s.<keyid>.<data>", ErrSealedFormat, sealVersion)
	}
	return parts[1], parts[2], nil
}

// NeedsReseal reports whether a sealed value was sealed with a key other
// than the current one.
func (k *Keyring) NeedsReseal(sealed string) bool {
	id, _, err := SealedKeyID(sealed)
	return err == nil && id != k.current
}
