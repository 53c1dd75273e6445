package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/internal/redact"
)

// defaultRedisURL is used when neither --redis-url nor S3INGEST_REDIS_URL
// is set.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

// app holds what every subcommand shares: global flags, lazily built
// clients and the output streams.
type app struct {
	redisURL string
	asJSON   bool

	stdout io.Writer
	stderr io.Writer

	rdb redis.UniversalClient
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
