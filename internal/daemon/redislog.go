package daemon

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// RedisLogger routes go-redis's own messages (pool dial failures while
// Redis is unreachable) into log at warn level, so they are structured
// like every other line and reach alerting on warnings. Install it with
// redis.SetLogger before creating clients.
func RedisLogger(log *zap.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{log.Named("redis")}
}

type redisLogger struct{ log *zap.Logger }

// Printf implements go-redis's logging interface.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", zap.String("detail", fmt.Sprintf(format, v...)))
}
