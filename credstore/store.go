// Package credstore keeps a workspace's AWS integration and credential
// instances in Redis, seals secrets at rest (AES-256-GCM), renders the IAM
// policy documents a customer needs, and resolves a job's credentials to an
// aws.CredentialsProvider (static keys, or a cached STS AssumeRole with the
// integration's External ID).
//
// The platform's API imports this package to create integrations and store
// credentials; the worker imports it to resolve them. It imports neither the
// worker nor any command, and knows nothing of asynq.
//
// Redis layout (KeyPrefix defaults to "s3ingest"; the braces are a Redis
// Cluster hash tag, so a workspace's keys share one slot):
//
//	s3ingest:ws:{W}:integration        hash: the workspace's AWS integration
//	s3ingest:ws:{W}:cred:{ID}          hash: one credential instance (secrets sealed)
//	s3ingest:ws:{W}:creds              set:  credential IDs of the workspace
//	s3ingest:ws:{W}:cred-names         hash: credential name -> ID
//	s3ingest:credstore:invalidate      pub/sub channel: workspace IDs whose integration changed
package credstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/ident"
)

// PlatformARNEnv names the environment variable holding the platform's
// principal ARN (the "User ARN" customers put in their trust policies).
const PlatformARNEnv = "S3INGEST_PLATFORM_ARN"

// DefaultKeyPrefix is the default prefix of every Redis key and channel.
const DefaultKeyPrefix = "s3ingest"

// StoreConfig configures a Store. Only Redis is required.
type StoreConfig struct {
	// Redis is the client holding the records (required).
	Redis redis.UniversalClient
	// Keyring seals and opens credential secrets. Optional: without it,
	// integrations work and credentials can be listed and removed, but
	// adding or resolving a credential fails with ErrSecretKeyMissing.
	Keyring *Keyring
	// PlatformARN is the platform's principal ("User ARN") recorded in new
	// integrations. Empty: the S3INGEST_PLATFORM_ARN environment variable;
	// if that is empty too, LookupPlatformARN is called.
	PlatformARN string
	// LookupPlatformARN finds the platform principal when PlatformARN is not
	// configured. Default: LookupCallerARN (sts:GetCallerIdentity with the
	// default AWS credential chain). Its result passes through
	// PrincipalFromCallerARN.
	LookupPlatformARN func(ctx context.Context) (string, error)
	// KeyPrefix prefixes every key and the invalidation channel. Default
	// "s3ingest". Must not contain '{', '}' or white space.
	KeyPrefix string
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Store reads and writes integration and credential records. It is safe
// for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	keys   *Keyring
	prefix string
	now    func() time.Time

	lookupARN func(ctx context.Context) (string, error)

	arnMu       sync.Mutex
	platformARN string // configured or looked up once
}

// NewStore validates cfg and returns a Store. Errors name the field.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Redis == nil {
		return nil, invalid("StoreConfig.Redis", "is required")
	}
	s := &Store{rdb: cfg.Redis, keys: cfg.Keyring, prefix: cfg.KeyPrefix, now: cfg.Now, lookupARN: cfg.LookupPlatformARN}
	if s.prefix == "" {
		s.prefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(s.prefix, "{} \t\r\n") {
		return nil, invalid("StoreConfig.KeyPrefix", "%q must not contain braces or white space", s.prefix)
	}
	if s.now == nil {
		s.now = time.Now
	}
	arn := strings.TrimSpace(cfg.PlatformARN)
	field := "StoreConfig.PlatformARN"
	if arn == "" {
		arn = strings.TrimSpace(os.Getenv(PlatformARNEnv))
		field = PlatformARNEnv
	}
	if arn != "" {
		if err := ValidatePrincipalARN(arn); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		s.platformARN = arn
	}
	if s.lookupARN == nil {
		s.lookupARN = LookupCallerARN
	}
	return s, nil
}

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Keyring returns the store's keyring (nil when none was configured).
func (s *Store) Keyring() *Keyring { return s.keys }

// InvalidationChannel is the Redis pub/sub channel on which integration
// changes are announced (the payload is the workspace ID).
func (s *Store) InvalidationChannel() string { return s.prefix + ":credstore:invalidate" }

func (s *Store) wsKey(ws string) string          { return s.prefix + ":ws:{" + ws + "}" }
func (s *Store) integrationKey(ws string) string { return s.wsKey(ws) + ":integration" }
func (s *Store) credKey(ws, id string) string    { return s.wsKey(ws) + ":cred:" + id }
func (s *Store) credIndexKey(ws string) string   { return s.wsKey(ws) + ":creds" }
func (s *Store) credNamesKey(ws string) string   { return s.wsKey(ws) + ":cred-names" }
func aad(ws, kind, id, field string) string {
	return "s3ingest/v1|ws=" + ws + "|" + kind + "=" + id + "|field=" + field
}
func (s *Store) timestamp(t time.Time) string        { return t.UTC().Format(time.RFC3339Nano) }
func parseTimestamp(v string) (t time.Time, _ error) { return time.Parse(time.RFC3339Nano, v) }

// ValidateWorkspaceID checks a workspace ID with ident.Workspace: 1–128
// characters of letters, digits and ._:@- (it becomes part of Redis keys and
// STS session names). Errors are *ValidationError naming "workspace".
func ValidateWorkspaceID(ws string) error { return fromIdent(ident.Workspace(ws)) }

// fromIdent turns an identifier error into the store's *ValidationError.
func fromIdent(err error) error {
	var ie *ident.Error
	if errors.As(err, &ie) {
		return &ValidationError{Field: ie.Field, Reason: ie.Detail()}
	}
	return err
}

// PlatformARN returns the platform's principal ARN: the configured one, or
// the result of LookupPlatformARN (remembered once it succeeds).
func (s *Store) PlatformARN(ctx context.Context) (string, error) {
	s.arnMu.Lock()
	defer s.arnMu.Unlock()
	if s.platformARN != "" {
		return s.platformARN, nil
	}
	caller, err := s.lookupARN(ctx)
	if err != nil {
		return "", fmt.Errorf("find the platform's User ARN: %w (set %s to the ARN of the IAM user or role ingestd runs as)", err, PlatformARNEnv)
	}
	arn, err := PrincipalFromCallerARN(caller)
	if err != nil {
		return "", fmt.Errorf("platform caller identity: %w", err)
	}
	s.platformARN = arn
	return arn, nil
}

// STSIdentityAPI is the part of the STS client CallerIdentityLookup uses.
type STSIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// CallerIdentityLookup returns a StoreConfig.LookupPlatformARN that asks
// client for sts:GetCallerIdentity.
func CallerIdentityLookup(client STSIdentityAPI) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", fmt.Errorf("sts:GetCallerIdentity: %w", err)
		}
		return aws.ToString(out.Arn), nil
	}
}

// LookupCallerARN is the default StoreConfig.LookupPlatformARN: it loads
// the default AWS configuration (environment, shared files, instance or
// task role) and asks sts:GetCallerIdentity who that is.
func LookupCallerARN(ctx context.Context) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("load the default AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return CallerIdentityLookup(sts.NewFromConfig(cfg))(ctx)
}

// randomHex returns n random bytes from crypto/rand, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("credstore: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// scriptError maps the error replies of the store's Lua scripts.
func scriptError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "S3I_NOTFOUND"):
		return ErrNotFound
	case strings.Contains(msg, "S3I_EXISTS"):
		return ErrExists
	case strings.Contains(msg, "S3I_ROTATING"):
		return ErrRotationInProgress
	case strings.Contains(msg, "S3I_NOROTATION"):
		return ErrNoRotation
	}
	return err
}

// isRedisNil reports whether err is redis.Nil.
func isRedisNil(err error) bool { return errors.Is(err, redis.Nil) }
