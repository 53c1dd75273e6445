package daemon_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/daemon"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// runDaemon starts daemon.Run on a real Redis with o's admin settings and
// returns the admin address; the daemon stops with the test.
func runDaemon(t *testing.T, rs *testenv.RedisServer, o daemon.Options) (string, error) {
	t.Helper()
	rdb := rs.Client(t)
	keyring, err := credstore.ParseKeyring(credstore.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	resolver, err := credstore.NewResolver(credstore.ResolverConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	snk, err := sink.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snk.Close() })
	connOpt, err := asynq.ParseRedisURI(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Redis, o.RedisConnOpt, o.Resolver, o.Sink = rdb, connOpt, resolver, snk
	o.Server = worker.ServerConfig{Concurrency: 1, ShutdownTimeout: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	o.Ready = func(addr string) { ready <- addr }
	go func() { done <- daemon.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("daemon did not shut down")
		}
	})
	select {
	case addr := <-ready:
		return addr, nil
	case err := <-done:
		done <- err // for the cleanup
		return "", err
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready")
	}
	return "", nil
}

func TestAdminRefusesNonLoopbackWithoutToken(t *testing.T) {
	rs := testenv.Redis(t)
	_, err := runDaemon(t, rs, daemon.Options{AdminAddr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "S3INGEST_ADMIN_TOKEN") || !strings.Contains(err.Error(), "S3INGEST_ADMIN_ALLOW_UNAUTHENTICATED") {
		t.Fatalf("Run on 0.0.0.0 without a token = %v, want a refusal naming S3INGEST_ADMIN_TOKEN and the override", err)
	}
	// The explicit override starts it.
	if _, err := runDaemon(t, rs, daemon.Options{AdminAddr: "0.0.0.0:0", AdminAllowUnauthenticated: true}); err != nil {
		t.Fatalf("Run with AdminAllowUnauthenticated: %v", err)
	}
}

func TestAdminTokenAndRedisWarnings(t *testing.T) {
	rs := testenv.Redis(t)
	const token = "t0ken-for-the-admin"
	addr, err := runDaemon(t, rs, daemon.Options{AdminAddr: "127.0.0.1:0", AdminToken: token, MonitorReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, auth func(*http.Request)) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(r *http.Request) { r.SetBasicAuth("operator", token) }

	for _, path := range []string{"/metrics", "/monitor/", "/monitor/api/queues"} {
		if code, _ := get(path, nil); code != http.StatusUnauthorized {
			t.Errorf("%s without a token = %d, want 401", path, code)
		}
		if code, _ := get(path, bearer("wrong")); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token = %d, want 401", path, code)
		}
		if code, _ := get(path, bearer(token)); code != http.StatusOK {
			t.Errorf("%s with the bearer token = %d, want 200", path, code)
		}
		if code, _ := get(path, basic); code != http.StatusOK {
			t.Errorf("%s with basic auth = %d, want 200", path, code)
		}
	}
	if code, body := get("/metrics", bearer(token)); code != 200 || !strings.Contains(body, "s3ingest_build_info{") {
		t.Errorf("/metrics lacks s3ingest_build_info:\n%s", grep(body, "build_info"))
	}
	// Probes stay open.
	if code, _ := get("/healthz", nil); code != 200 {
		t.Errorf("/healthz = %d, want 200 without a token", code)
	}

	// The test Redis runs without persistence: /readyz says so (and stays 200).
	code, body := get("/readyz", nil)
	if code != 200 || !strings.Contains(body, "no persistence") {
		t.Fatalf("/readyz on a Redis without persistence = %d %q, want 200 with a warning", code, body)
	}
	rdb := rs.Client(t)
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if _, body := get("/readyz", nil); !strings.Contains(body, "maxmemory-policy is allkeys-lru") {
		t.Fatalf("/readyz with allkeys-lru = %q, want an eviction warning", body)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz", nil); code != 200 || strings.Contains(body, "warning") {
		t.Fatalf("/readyz with AOF and noeviction = %d %q, want no warning", code, body)
	}
}

func TestIsLoopbackTable(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9090", true},
		{"[::1]:9090", true},
		{"localhost:9090", true},
		{"0.0.0.0:9090", false},
		{":9090", false},
		{"[::]:9090", false},
		{"10.0.0.5:9090", false},
		{"ingestd.internal:9090", false},
	}
	for _, tt := range tests {
		err := daemon.CheckAdminAuth(tt.addr, "", false)
		if (err == nil) != tt.ok {
			t.Errorf("CheckAdminAuth(%q, no token) = %v, want allowed=%v", tt.addr, err, tt.ok)
		}
		if err := daemon.CheckAdminAuth(tt.addr, "tok", false); err != nil {
			t.Errorf("CheckAdminAuth(%q, token) = %v, want nil", tt.addr, err)
		}
	}
}
