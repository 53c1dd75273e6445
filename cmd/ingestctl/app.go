package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/redact"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// defaultRedisURL is used when neither --redis-url nor S3INGEST_REDIS_URL
// is set.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

// app holds what every subcommand shares: global flags, lazily built
// clients, the output streams, and the collaborators tests replace (build
// it with newApp, which sets the production ones).
type app struct {
	redisURL string
	asJSON   bool

	stdout io.Writer
	stderr io.Writer
	// stdin, when set, is the commands' stdin (default os.Stdin).
	stdin io.Reader

	rdb redis.UniversalClient

	// sinkURL is the dataset commands' --sink.
	sinkURL string
	// openCatalog opens the sink named by a URL for the dataset commands
	// (nil: openSinkCatalog); tests put a fake catalog here.
	openCatalog func(ctx context.Context, url string) (sink.Catalog, io.Closer, error)

	// newResolver builds the Resolver that `integration rotate --finish`
	// and `integration verify --local` assume customer roles with.
	newResolver func(*credstore.Store) (*credstore.Resolver, error)
	// verifyRotation runs the full verification of a workspace's
	// integration against bucket/prefix with the newest External ID (the
	// one being rotated in), prints its report, and returns nil only if it
	// passed: `integration rotate --finish --bucket B` requires it before
	// retiring the old External ID.
	verifyRotation func(cmd *cobra.Command, workspaceID, bucket, prefix string) error

	// terminal reports whether a writer is a terminal, for --wait's
	// progress bar (nil: ask the OS); progressEvery is how often progress
	// lines are printed elsewhere (0: defaultProgressEvery).
	terminal      func(io.Writer) bool
	progressEvery time.Duration
}

// newApp returns an app writing to stdout and stderr, with the production
// resolver (the platform's default AWS credentials, S3INGEST_STS_ENDPOINT),
// the in-process verification for rotations, and the real sinks.
func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr, newResolver: platformResolver, openCatalog: openSinkCatalog}
	a.verifyRotation = a.verifyForRotation
	return a
}

// redis returns the Redis client for --redis-url, connecting on first use.
func (a *app) redis(ctx context.Context) (redis.UniversalClient, error) {
	if a.rdb != nil {
		return a.rdb, nil
	}
	raw := a.redisURL
	if raw == "" {
		raw = envOr("S3INGEST_REDIS_URL", defaultRedisURL)
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("--redis-url / S3INGEST_REDIS_URL %s: %s", redact.URL(raw), redact.Error(raw, err))
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w (start redis-server or set --redis-url / S3INGEST_REDIS_URL)", opt.Addr, err)
	}
	a.rdb = c
	return c, nil
}

// close releases the clients.
func (a *app) close() {
	if a.rdb != nil {
		a.rdb.Close()
	}
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printf writes human-readable output to stdout.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
