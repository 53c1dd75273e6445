package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/worker"
)

func TestConfigValidateFetch(t *testing.T) {
	cases := []struct {
		cfg     worker.Config
		wantErr string
	}{
		{worker.Config{}, ""},
		{worker.Config{FetchPartSize: 16 << 20, FetchConcurrency: 4}, ""},
		{worker.Config{FetchConcurrency: 1}, ""},
		{worker.Config{FetchPartSize: 1000}, "worker.Config.FetchPartSize: 1000 is not between"},
		{worker.Config{FetchConcurrency: 100}, "worker.Config.FetchConcurrency: 100 is not between"},
		{worker.Config{FetchPartSize: 256 << 20, FetchConcurrency: 8}, "worker.Config.FetchPartSize × worker.Config.FetchConcurrency: "},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), c.wantErr)) {
			t.Errorf("%+v: Validate() = %v, want %q", c.cfg, err, c.wantErr)
		}
	}
}

func TestServerConfigValidate(t *testing.T) {
	cases := []struct {
		cfg     worker.ServerConfig
		wantErr string
	}{
		{worker.ServerConfig{}, ""},
		{worker.ServerConfig{PollInterval: worker.MinPollInterval}, ""},
		{worker.ServerConfig{PollInterval: 2 * time.Second}, ""},
		{worker.ServerConfig{PollInterval: time.Millisecond}, "ServerConfig.PollInterval: 1ms is neither 0 (250ms) nor at least 10ms"},
		{worker.ServerConfig{PollInterval: -time.Second}, "ServerConfig.PollInterval: -1s"},
		{worker.ServerConfig{Concurrency: -1}, "ServerConfig.Concurrency"},
		{worker.ServerConfig{Queues: map[string]int{"ingest": 0}}, "ServerConfig.Queues"},
		{worker.ServerConfig{ShutdownTimeout: -time.Second}, "ServerConfig.ShutdownTimeout"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), c.wantErr)) {
			t.Errorf("%+v: Validate() = %v, want %q", c.cfg, err, c.wantErr)
		}
	}
}
