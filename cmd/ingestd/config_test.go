package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			if c.RedisURL != "redis://127.0.0.1:6379/0" || c.Sink != "file://./data" || !c.Scheduler || !c.MonitorReadOnly || c.AdminAddr != "127.0.0.1:9090" {
				t.Fatalf("defaults = %+v", c)
			}
		}},
		{name: "set", env: map[string]string{
			"S3INGEST_REDIS_URL": "redis://r:6380/2", "S3INGEST_CONCURRENCY": "16", "S3INGEST_QUEUES": "interactive=5, ingest=2",
			"S3INGEST_SHUTDOWN_TIMEOUT": "2m", "S3INGEST_SCHEDULER": "false",
		}, check: func(t *testing.T, c config) {
			if c.RedisURL != "redis://r:6380/2" || c.Concurrency != 16 || c.Queues["ingest"] != 2 || c.Queues["interactive"] != 5 ||
				c.ShutdownTimeout != 2*time.Minute || c.Scheduler {
				t.Fatalf("config = %+v", c)
			}
		}},
		{name: "fetch", env: map[string]string{"S3INGEST_FETCH_PART_SIZE": "16MiB", "S3INGEST_FETCH_CONCURRENCY": "8"}, check: func(t *testing.T, c config) {
			if c.FetchPartSize != 16<<20 || c.FetchConcurrency != 8 {
				t.Fatalf("config = %+v", c)
			}
		}},
		{name: "fetch part size in bytes", env: map[string]string{"S3INGEST_FETCH_PART_SIZE": "1048576"}, check: func(t *testing.T, c config) {
			if c.FetchPartSize != 1<<20 || c.FetchConcurrency != 0 {
				t.Fatalf("config = %+v", c)
			}
		}},
		{name: "fetch mode parts", env: map[string]string{"S3INGEST_FETCH_MODE": "parts"}, check: func(t *testing.T, c config) {
			if c.FetchMode != source.FetchParts {
				t.Fatalf("FetchMode = %v, want parts", c.FetchMode)
			}
		}},
		{name: "fetch mode adaptive", env: map[string]string{"S3INGEST_FETCH_MODE": " Adaptive "}, check: func(t *testing.T, c config) {
			if c.FetchMode != source.FetchAdaptive {
				t.Fatalf("FetchMode = %v, want adaptive", c.FetchMode)
			}
		}},
		{name: "bad fetch mode", env: map[string]string{"S3INGEST_FETCH_MODE": "ranged"}, wantErr: `S3INGEST_FETCH_MODE: "ranged" is not a fetch mode: want adaptive or parts`},
		{name: "fetch defaults", check: func(t *testing.T, c config) {
			if c.FetchPartSize != 0 || c.FetchConcurrency != 0 || c.FetchMode != source.FetchAdaptive {
				t.Fatalf("config = %+v, want zero values (the defaults)", c)
			}
		}},
		{name: "bad part size", env: map[string]string{"S3INGEST_FETCH_PART_SIZE": "8MB"}, wantErr: "S3INGEST_FETCH_PART_SIZE"},
		{name: "part size too small", env: map[string]string{"S3INGEST_FETCH_PART_SIZE": "1KiB"}, wantErr: "S3INGEST_FETCH_PART_SIZE: 1024 is not between"},
		{name: "fetch concurrency too high", env: map[string]string{"S3INGEST_FETCH_CONCURRENCY": "65"}, wantErr: "S3INGEST_FETCH_CONCURRENCY: 65 is not between"},
		{name: "fetch buffers too large", env: map[string]string{"S3INGEST_FETCH_PART_SIZE": "256MiB", "S3INGEST_FETCH_CONCURRENCY": "4"}, wantErr: "S3INGEST_FETCH_PART_SIZE × S3INGEST_FETCH_CONCURRENCY"},
		{name: "bad number", env: map[string]string{"S3INGEST_CONCURRENCY": "many"}, wantErr: "S3INGEST_CONCURRENCY"},
		{name: "poll interval", env: map[string]string{"S3INGEST_POLL_INTERVAL": "100ms"}, check: func(t *testing.T, c config) {
			if c.PollInterval != 100*time.Millisecond {
				t.Fatalf("config = %+v", c)
			}
		}},
		{name: "poll interval too short", env: map[string]string{"S3INGEST_POLL_INTERVAL": "1ms"}, wantErr: "S3INGEST_POLL_INTERVAL=1ms: want 0 (the default, 250ms) or at least 10ms"},
		{name: "bad duration", env: map[string]string{"S3INGEST_SHUTDOWN_TIMEOUT": "soon"}, wantErr: "S3INGEST_SHUTDOWN_TIMEOUT"},
		{name: "bad queues", env: map[string]string{"S3INGEST_QUEUES": "ingest"}, wantErr: "S3INGEST_QUEUES"},
		{name: "zero weight", env: map[string]string{"S3INGEST_QUEUES": "ingest=0"}, wantErr: "S3INGEST_QUEUES"},
		{name: "bad bool", env: map[string]string{"S3INGEST_SCHEDULER": "maybe"}, wantErr: "S3INGEST_SCHEDULER"},
		{name: "bad log format", env: map[string]string{"S3INGEST_LOG_FORMAT": "xml"}, wantErr: "S3INGEST_LOG_FORMAT"},
		{name: "role duration out of range", env: map[string]string{"S3INGEST_ASSUME_ROLE_DURATION": "5m"}, wantErr: "S3INGEST_ASSUME_ROLE_DURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestDefaultSinkOpens: the documented default S3INGEST_SINK is usable.
func TestDefaultSinkOpens(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s, err := sink.Open(context.Background(), c.Sink)
	if err != nil {
		t.Fatalf("default sink %q: %v", c.Sink, err)
	}
	s.Close()
}
