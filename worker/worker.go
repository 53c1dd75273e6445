// Package worker runs s3ingest's asynq tasks. It is the only package that
// ties credentials (credstore), S3 (worker/source), parsers and datasets
// (worker/sink) together.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

// Resolver turns a workspace (and optional credential instance) into AWS
// credentials; *credstore.Resolver implements it.
type Resolver interface {
	Resolve(ctx context.Context, workspaceID, credentialID string) (*credstore.Resolved, error)
}

// Config tunes the handlers. The zero value is the documented defaults.
type Config struct {
	// Concurrency is how many objects one ingest reads at once when the
	// payload does not say (default 4).
	Concurrency int
	// PreviewHeadBytes bounds the ranged read of a CSV/JSON head in a
	// preview (default parsers.DefaultPreviewHeadBytes, 4 MiB).
	PreviewHeadBytes int
	// PreviewListLimit bounds how many objects a preview lists to count
	// them (default 10000).
	PreviewListLimit int
	// ProgressInterval is how often an ingest writes progress to its task
	// result (default 2s).
	ProgressInterval time.Duration
	// S3Endpoint, when set, sends every S3 request of credentials that do
	// not name their own endpoint to this S3-compatible endpoint
	// (path-style). Empty means AWS.
	S3Endpoint string
	// S3Region is the region used with S3Endpoint (default us-east-1).
	S3Region string
	// AllowPrivateEndpoints lets credential instances name S3-compatible
	// endpoints on loopback, private or link-local addresses (a MinIO on
	// the internal network, tests). Off by default: a customer's endpoint
	// must not reach the daemon's own network.
	AllowPrivateEndpoints bool
	// MaxObjects bounds the objects read at once by all ingests of this
	// process together, so memory stays bounded whatever the payloads ask
	// (default 16).
	MaxObjects int
	// FetchPartSize and FetchConcurrency say how a long read of one object
	// is fetched: ranged GETs of FetchPartSize bytes, FetchConcurrency at
	// once (defaults source.DefaultPartSize, 4 MiB, and
	// source.DefaultFetchConcurrency, 8: at most 32 MiB of buffers per
	// object read, on top of the parser's parsers.ObjectMemoryBudget;
	// FetchConcurrency 1 reads each object with one GET). See
	// source.FetchOptions.
	FetchPartSize    int64
	FetchConcurrency int
	// FetchMode says whether a read of at least four rounds of parts
	// (128 MiB at the defaults) from an S3-compatible endpoint first tries
	// one GET against parts and keeps the way that kept the parser waiting
	// less (source.FetchAdaptive, the zero value) or is always read in
	// parts (source.FetchParts). AWS S3 itself is read in parts.
	FetchMode source.FetchMode
}

// Validate checks the config; errors name the field.
func (c Config) Validate() error {
	switch {
	case c.Concurrency < 0 || c.Concurrency > 64:
		return fmt.Errorf("worker.Config.Concurrency: %d is not between 0 and 64", c.Concurrency)
	case c.PreviewHeadBytes < 0:
		return fmt.Errorf("worker.Config.PreviewHeadBytes: must not be negative")
	case c.PreviewListLimit < 0:
		return fmt.Errorf("worker.Config.PreviewListLimit: must not be negative")
	case c.MaxObjects < 0:
		return fmt.Errorf("worker.Config.MaxObjects: must not be negative")
	case c.ProgressInterval < 0:
		return fmt.Errorf("worker.Config.ProgressInterval: must not be negative")
	}
	var fe *source.FetchOptionError
	if err := c.fetch().Validate(); errors.As(err, &fe) {
		return fe.Rename(func(f string) string { return "worker.Config.Fetch" + f })
	} else if err != nil {
		return err
	}
	return nil
}

// fetch returns the source's fetch options.
func (c Config) fetch() source.FetchOptions {
	return source.FetchOptions{PartSize: c.FetchPartSize, Concurrency: c.FetchConcurrency, Mode: c.FetchMode}
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.PreviewListLimit == 0 {
		c.PreviewListLimit = 10000
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 2 * time.Second
	}
	if c.S3Region == "" {
		c.S3Region = "us-east-1"
	}
	if c.MaxObjects == 0 {
		c.MaxObjects = 16
	}
	return c
}

// Handlers runs preview, ingest and verify tasks.
type Handlers struct {
	cfg     Config
	creds   Resolver
	sink    sink.Sink
	log     *zap.Logger
	metrics *Metrics
	objects chan struct{} // process-wide semaphore of objects being read
	http    *transports   // shared connections and region cache
}

// NewHandlers returns the task handlers. log and metrics may be nil.
func NewHandlers(cfg Config, creds Resolver, snk sink.Sink, log *zap.Logger, m *Metrics) (*Handlers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if creds == nil || snk == nil {
		return nil, errors.New("worker.NewHandlers: a credential resolver and a sink are required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	cfg = cfg.withDefaults()
	return &Handlers{cfg: cfg, creds: creds, sink: snk, log: log, metrics: m,
		objects: make(chan struct{}, cfg.MaxObjects), http: newTransports(cfg.AllowPrivateEndpoints)}, nil
}

// Register adds the handlers to mux under the jobs task types.
func (h *Handlers) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(jobs.TypePreview, h.instrument(jobs.TypePreview, h.HandlePreview))
	mux.HandleFunc(jobs.TypeIngest, h.instrument(jobs.TypeIngest, h.HandleIngest))
	mux.HandleFunc(jobs.TypeVerify, h.instrument(jobs.TypeVerify, h.HandleVerify))
	mux.HandleFunc(jobs.TypeDryRun, h.instrument(jobs.TypeDryRun, h.HandleDryRun))
}

// instrument times and counts a handler and turns its error into a task
// error (permanent ones skip retries).
func (h *Handlers) instrument(typ string, fn asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := taskError(fn(ctx, t))
		outcome := "ok"
		switch {
		case err == nil:
		case errors.Is(err, asynq.SkipRetry):
			outcome = "failed"
		default:
			outcome = "retry"
		}
		h.metrics.tasks.WithLabelValues(typ, outcome).Inc()
		h.metrics.taskSeconds.WithLabelValues(typ).Observe(time.Since(start).Seconds())
		return err
	}
}

// client resolves the job's credentials and returns an S3 client with them.
// Resolve's errors classify themselves (credstore): permanent unless they
// are transient STS, Redis or network failures. A stored credential
// instance cannot refresh, so the client is told (an expired session token
// of it is permanent, while an integration's is refreshed).
func (h *Handlers) client(ctx context.Context, workspaceID, credentialID string) (*source.Client, *credstore.Resolved, error) {
	res, err := h.creds.Resolve(ctx, workspaceID, credentialID)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve credentials: %w", err)
	}
	fixed := ""
	if res.CredentialID != "" {
		fixed = "credential " + res.CredentialID
	}
	return h.newSource(res.Provider, res.Region, res.Endpoint, fixed), res, nil
}
