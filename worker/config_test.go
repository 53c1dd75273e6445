package worker_test

import (
	"strings"
	"testing"

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
