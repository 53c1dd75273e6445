package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/s3ingest/s3ingest/credstore"
)

// Environment variables read by the credential and integration commands
// (besides S3INGEST_REDIS_URL, S3INGEST_SECRET_KEY and
// S3INGEST_PLATFORM_ARN, which credstore documents).
const (
	// envCredSecret holds the secret access key for `credential add`
	// when --secret-stdin is not used.
	envCredSecret = "S3INGEST_CRED_SECRET"
	// envCredSessionToken holds an optional session token for
	// `credential add`.
	envCredSessionToken = "S3INGEST_CRED_SESSION_TOKEN"
	// envSTSEndpoint overrides the STS endpoint for the AssumeRole check
	// of `integration rotate --finish` (the same variable ingestd reads).
	envSTSEndpoint = "S3INGEST_STS_ENDPOINT"
)

// openCredStore returns a credstore.Store on the app's Redis. With needKey the
// sealing keyring is loaded from S3INGEST_SECRET_KEY and must be present;
// otherwise it is loaded only if set (listing and removing need no key).
func openCredStore(ctx context.Context, a *app, needKey bool) (*credstore.Store, error) {
	var kr *credstore.Keyring
	if needKey || strings.TrimSpace(os.Getenv(credstore.SecretKeyEnv)) != "" {
		var err error
		if kr, err = credstore.KeyringFromEnv(); err != nil {
			return nil, err
		}
	}
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, err
	}
	cfg := credstore.StoreConfig{Redis: rdb, Keyring: kr}
	if strings.TrimSpace(os.Getenv(credstore.PlatformARNEnv)) == "" {
		// The User ARN customers must trust is ingestd's principal, not
		// necessarily this machine's: say where it came from.
		cfg.LookupPlatformARN = func(ctx context.Context) (string, error) {
			fmt.Fprintf(a.stderr, "ingestctl: %s is not set; the User ARN is the principal of this machine's AWS credentials (sts:GetCallerIdentity): it must be the principal ingestd runs as\n", credstore.PlatformARNEnv)
			return credstore.LookupCallerARN(ctx)
		}
	}
	return credstore.NewStore(cfg)
}

// policyJSON embeds a rendered policy document in --json output.
func policyJSON(doc []byte) json.RawMessage {
	return json.RawMessage(bytes.TrimSpace(doc))
}

// recordTime formats a time for human output ("-" when zero).
func recordTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
