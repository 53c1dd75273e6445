package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness is a running worker on real Redis and a real S3 server with a
// file sink, as ingestd wires it.
type harness struct {
	t        *testing.T
	s3       *testenv.S3Server
	rdb      *redis.Client
	store    *credstore.Store
	resolver *credstore.Resolver
	jobs     *jobs.Client
	dir      string
	files    *sink.FileSink // the sink, when it is a file sink
	handlers *worker.Handlers
}

type harnessOpt func(*harnessConfig)

type harnessConfig struct {
	sinkURL    string // "" = a file sink in a temp dir
	worker     worker.Config
	publicOnly bool // refuse private credential endpoints, as ingestd does by default
	resolver   credstore.ResolverConfig
	s3         *testenv.S3Server
	rdb        *redis.Client
	metrics    *worker.Metrics // nil: unregistered collectors
}

// withS3 makes the harness use srv (e.g. a dedicated testenv.StartS3
// instance) instead of the shared one.
func withS3(srv *testenv.S3Server) harnessOpt { return func(hc *harnessConfig) { hc.s3 = srv } }

// withRedis makes the harness use rdb instead of a fresh redis-server, so a
// test can create records (integrations) before the worker starts.
func withRedis(rdb *redis.Client) harnessOpt { return func(hc *harnessConfig) { hc.rdb = rdb } }

// withPublicEndpointsOnly keeps ingestd's default: credential instances may
// not name private or loopback endpoints.
func withPublicEndpointsOnly() harnessOpt { return func(hc *harnessConfig) { hc.publicOnly = true } }

// withWorker adjusts the worker.Config.
func withWorker(f func(*worker.Config)) harnessOpt { return func(hc *harnessConfig) { f(&hc.worker) } }

// withResolver adjusts the credstore.ResolverConfig (Store is set by the
// harness).
func withResolver(f func(*credstore.ResolverConfig)) harnessOpt {
	return func(hc *harnessConfig) { f(&hc.resolver) }
}

// withSink makes the harness write into the sink at url.
func withSink(url string) harnessOpt { return func(c *harnessConfig) { c.sinkURL = url } }

// withMetrics gives the handlers m (e.g. registered with a test registry).
func withMetrics(m *worker.Metrics) harnessOpt { return func(c *harnessConfig) { c.metrics = m } }

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	var hc harnessConfig
	for _, o := range opts {
		o(&hc)
	}
	s3srv := hc.s3
	if s3srv == nil {
		s3srv = testenv.S3(t)
	}
	rdb := hc.rdb
	if rdb == nil {
		rdb = testenv.Redis(t).Client(t)
	}
	keyring, err := credstore.ParseKeyring(credstore.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring, PlatformARN: testenv.PlatformUserARN})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := hc.resolver
	rcfg.Store = store
	resolver, err := credstore.NewResolver(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	// As ingestd does: listen for integration changes made anywhere.
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- resolver.Run(runCtx) }()
	t.Cleanup(func() {
		stopRun()
		if err := <-runDone; err != nil {
			t.Errorf("resolver.Run: %v", err)
		}
	})
	dir := t.TempDir()
	sinkURL := hc.sinkURL
	if sinkURL == "" {
		sinkURL = "file://" + dir
	}
	snk, err := sink.Open(context.Background(), sinkURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snk.Close() })
	files, _ := snk.(*sink.FileSink)
	log := zaptest.NewLogger(t)
	wcfg := hc.worker
	wcfg.AllowPrivateEndpoints = !hc.publicOnly // the test servers listen on loopback
	if wcfg.ProgressInterval == 0 {
		wcfg.ProgressInterval = 100 * time.Millisecond
	}
	h, err := worker.NewHandlers(wcfg, resolver, snk, log, hc.metrics)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := worker.NewServer(rdb, worker.ServerConfig{Concurrency: 4, ShutdownTimeout: 2 * time.Second,
		RetryDelay:   func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond },
		PollInterval: 100 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := asynq.NewServeMux()
	h.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &harness{t: t, s3: s3srv, rdb: rdb, store: store, resolver: resolver, jobs: jobs.NewClient(rdb), dir: dir, files: files, handlers: h}
}

// datasetDir returns the directory of dataset of workspace ws in the
// harness's file sink.
func (h *harness) datasetDir(ws, dataset string) string {
	h.t.Helper()
	if h.files == nil {
		h.t.Fatal("datasetDir: the harness has no file sink")
	}
	p, err := h.files.DatasetDir(sink.Dataset{Workspace: ws, Name: dataset})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// addCredential stores an access key of the S3 server as a credential
// instance of workspace ws.
func (h *harness) addCredential(ws, accessKey, secret string) string {
	h.t.Helper()
	c, err := h.store.AddCredential(context.Background(), ws, credstore.CredentialInput{
		Name: "key-" + accessKey[len(accessKey)-4:] + "-" + secret[:4], AccessKeyID: accessKey, SecretAccessKey: credstore.Secret(secret),
		Region: h.s3.Region, Endpoint: h.s3.Endpoint,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c.ID
}

// run enqueues t and waits for it to complete or be archived.
func (h *harness) run(t *asynq.Task, res any) (*asynq.TaskInfo, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := h.jobs.Enqueue(ctx, t)
	if err != nil {
		h.t.Fatal(err)
	}
	done, err := h.jobs.Wait(ctx, info.Queue, info.ID, 50*time.Millisecond)
	if done != nil && len(done.Result) > 0 && res != nil {
		if derr := jobs.DecodeResult(done, res); derr != nil {
			h.t.Fatal(derr)
		}
	}
	if done == nil {
		h.t.Fatalf("wait for %s: %v", info.ID, err)
	}
	return done, err
}

func credInput(accessKey, secret, region, endpoint string) credstore.CredentialInput {
	return credstore.CredentialInput{Name: "cred-" + endpoint, AccessKeyID: accessKey, SecretAccessKey: credstore.Secret(secret),
		Region: region, Endpoint: endpoint}
}
