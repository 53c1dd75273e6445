package daemon

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedisLoggerWritesStructuredWarnings(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	RedisLogger(zap.New(core)).Printf(context.Background(), "connection pool: failed to dial after %d attempts: %s", 5, "refused")
	e := logs.AllUntimed()
	if len(e) != 1 || e[0].Level != zapcore.WarnLevel || e[0].Message != "redis client" ||
		e[0].ContextMap()["detail"] != "connection pool: failed to dial after 5 attempts: refused" || e[0].LoggerName != "redis" {
		t.Fatalf("entries %+v", e)
	}
}
