package main

import "context"

// quietRedisLog discards go-redis's own pool messages ("connection pool:
// failed to dial …"). ingestctl is a command, not a daemon: every Redis
// failure already reaches the command as an error, and --wait reports an
// outage in its own words, so the client's plain-text lines on stderr would
// only repeat it in another format between the progress lines.
type quietRedisLog struct{}

// Printf implements go-redis's logging interface.
func (quietRedisLog) Printf(context.Context, string, ...any) {}
