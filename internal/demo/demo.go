// Package demo runs s3ingest end to end on embedded servers: an in-process
// Redis (miniredis) and an in-process S3 (gofakes3) seeded with sample CSV,
// JSON and Parquet objects, the real daemon, and jobs enqueued through the
// jobs package. It needs nothing but Go. The embedded servers serve the demo
// only; the tests prove behaviour against real Redis, S3 and PostgreSQL.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/daemon"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Options configure the demo.
type Options struct {
	// Dir receives the datasets (default ./demo-data).
	Dir string
	// Once exits when the demo jobs are done; otherwise the daemon keeps
	// serving (with its dashboard) until ctx ends.
	Once bool
	// AdminAddr is the admin HTTP address ("" disables it).
	AdminAddr string
	// Out receives the report (default os.Stdout).
	Out io.Writer
}

const (
	workspace = "demo"
	bucket    = "demo-bucket"
)

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	if o.Dir == "" {
		o.Dir = "./demo-data"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dir %s: %w", o.Dir, err)
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format, args...) }

	// Embedded Redis.
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	// Embedded S3 on a loopback port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("embedded s3: %w", err)
	}
	s3srv := &http.Server{Handler: gofakes3.New(s3mem.New()).Server(), ReadHeaderTimeout: 10 * time.Second}
	go s3srv.Serve(ln) //nolint:errcheck // ends with Close below
	defer s3srv.Close()
	endpoint := "http://" + ln.Addr().String()
	const accessKey, secretKey = "demo-access-key", "demo-secret-key"
	seeded, err := seed(ctx, endpoint, accessKey, secretKey)
	if err != nil {
		return fmt.Errorf("seed sample objects: %w", err)
	}
	say("embedded Redis at %s, embedded S3 at %s\n", mr.Addr(), endpoint)
	say("seeded s3://%s with %d sample objects:\n", bucket, len(seeded))
	for _, k := range seeded {
		say("  %s\n", k)
	}

	// Credentials: a fresh sealing key and one credential instance.
	keyring, err := credstore.ParseKeyring(credstore.GenerateKey())
	if err != nil {
		return err
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring, PlatformARN: "arn:aws:iam::000000000000:user/s3ingest-demo"})
	if err != nil {
		return err
	}
	cred, err := store.AddCredential(ctx, workspace, credstore.CredentialInput{
		Name: "demo-bucket-key", AccessKeyID: accessKey, SecretAccessKey: credstore.Secret(secretKey),
		Region: "us-east-1", Endpoint: endpoint,
	})
	if err != nil {
		return fmt.Errorf("store demo credential: %w", err)
	}
	say("stored credential %s (%s) for workspace %q; its secret is sealed in Redis\n\n", cred.ID, cred.Name, workspace)
	resolver, err := credstore.NewResolver(credstore.ResolverConfig{Store: store})
	if err != nil {
		return err
	}
	snk, err := sink.Open(ctx, "file://"+dir)
	if err != nil {
		return err
	}
	defer snk.Close()

	// The daemon, exactly as ingestd runs it.
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	dctx, stopDaemon := context.WithCancel(ctx)
	defer stopDaemon()
	ready := make(chan string, 1)
	daemonErr := make(chan error, 1)
	go func() {
		daemonErr <- daemon.Run(dctx, daemon.Options{
			Redis: rdb, RedisConnOpt: asynq.RedisClientOpt{Addr: mr.Addr()},
			Resolver: resolver, Sink: snk, Log: log,
			Server:    worker.ServerConfig{Concurrency: 4, ShutdownTimeout: 5 * time.Second},
			Worker:    worker.Config{AllowPrivateEndpoints: true}, // the embedded S3 is on loopback
			Scheduler: false, AdminAddr: o.AdminAddr, MonitorReadOnly: true,
			Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		if addr != "" {
			say("dashboard: http://%s/monitor/   metrics: http://%s/metrics\n\n", addr, addr)
		}
	case err := <-daemonErr:
		return fmt.Errorf("daemon: %w", err)
	}

	if err := runJobs(ctx, rdb, cred.ID, dir, say); err != nil {
		stopDaemon()
		<-daemonErr
		return err
	}
	if !o.Once {
		say("\nserving; press Ctrl-C to stop\n")
		<-ctx.Done()
	}
	stopDaemon()
	return <-daemonErr
}

// runJobs enqueues the demo's preview and ingests through jobs.Client and
// prints their results.
func runJobs(ctx context.Context, rdb redis.UniversalClient, credID, dir string, say func(string, ...any)) error {
	c := jobs.NewClient(rdb)
	wait := func(info *asynq.TaskInfo, res any) error {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		done, err := c.Wait(wctx, info.Queue, info.ID, 50*time.Millisecond)
		if done != nil && len(done.Result) > 0 {
			if derr := jobs.DecodeResult(done, res); derr != nil {
				return derr
			}
		}
		return err
	}

	for _, prefix := range []string{"sales/", "events/"} {
		say("== preview of s3://%s/%s\n", bucket, prefix)
		info, err := c.EnqueuePreview(ctx, jobs.PreviewPayload{WorkspaceID: workspace, CredentialID: credID,
			Source: jobs.Source{Bucket: bucket, Prefix: prefix}, Rows: 5})
		if err != nil {
			return err
		}
		var pr jobs.PreviewResult
		if err := wait(info, &pr); err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		say("%d objects, %d bytes; sampled %s (%s, %s)\n", pr.Listing.Objects, pr.Listing.Bytes, pr.Object, pr.Format, pr.Compression)
		for _, f := range pr.Schema.Fields {
			say("  %-12s %-10s %s\n", f.Name, f.Type, f.Reason)
		}
		for _, row := range pr.Rows {
			say("  %v\n", row)
		}
		say("\n")
	}

	ingests := []struct {
		dataset, prefix string
		budget          jobs.ErrorBudget
	}{
		{"sales", "sales/", jobs.ErrorBudget{ObjectMaxRows: 10}},
		{"events", "events/", jobs.ErrorBudget{}},
		{"metrics", "metrics/", jobs.ErrorBudget{}},
		{"sales", "sales/", jobs.ErrorBudget{ObjectMaxRows: 10}}, // again: the ledger skips everything
	}
	for i, in := range ingests {
		again := ""
		if i == len(ingests)-1 {
			again = " again (exactly once: every object is already in the ledger)"
		}
		say("\n== ingest s3://%s/%s into dataset %q%s\n", bucket, in.prefix, in.dataset, again)
		info, err := c.EnqueueIngest(ctx, jobs.IngestPayload{WorkspaceID: workspace, CredentialID: credID,
			Source: jobs.Source{Bucket: bucket, Prefix: in.prefix}, Dataset: in.dataset, ErrorBudget: in.budget})
		if err != nil {
			return err
		}
		var res jobs.IngestResult
		if err := wait(info, &res); err != nil {
			return fmt.Errorf("ingest %s: %w", in.dataset, err)
		}
		say("%s\n", &res)
		for _, ch := range res.SchemaChanges {
			var cols []string
			for _, c := range ch.Added {
				cols = append(cols, c.Name+" "+c.Type.String())
			}
			for _, c := range ch.Widened {
				cols = append(cols, c.Name+" "+c.From+"→"+c.Type.String())
			}
			say("  schema version %d: %s (%s)\n", ch.Version, ch.Reason, strings.Join(cols, ", "))
		}
		for _, rj := range res.Rejects {
			say("  rejected: %s\n", rj.Error)
		}
	}

	say("\n== datasets under %s\n", dir)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		say("  %s\n", f)
	}
	if len(files) == 0 {
		return errors.New("the demo wrote no dataset files")
	}
	return nil
}
