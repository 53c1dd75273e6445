package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Environment variables read by `integration verify --local` (and by the
// verification of `rotate --finish --bucket`): the same ingestd reads.
const (
	// envS3Endpoint sends S3 requests to an S3-compatible endpoint.
	envS3Endpoint = "S3INGEST_S3_ENDPOINT"
	// envS3Region is the region used with envS3Endpoint.
	envS3Region = "S3INGEST_S3_REGION"
)

// defaultVerifyTimeout is how long `verify` waits for ingestd's report.
const defaultVerifyTimeout = 2 * time.Minute

func newIntegrationVerifyCmd(a *app) *cobra.Command {
	var (
		workspace, bucket, prefix string
		local                     bool
		timeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "verify --workspace W --bucket B [--prefix P] [--local]",
		Short: "check the workspace's integration step by step and say what to fix",
		Long: `Check the workspace's AWS integration against a bucket and prefix, step by step:

  integration           the record exists and has a role ARN
  assume-role           sts:AssumeRole with the External ID (the new one during a rotation)
  external-id-required  sts:AssumeRole WITHOUT the External ID must be denied (confused deputy)
  bucket-region         the bucket's region
  list                  ListObjectsV2 on the prefix (count, first keys)
  read                  a 1-byte ranged GetObject of the first non-empty object
  sniff                 its format and compression

Each step passes, fails, warns or is skipped, with the cause and the fix. The
command exits non-zero when a step failed.

By default the checks run on ingestd (a verify task on the interactive queue),
as the platform principal the customer's role trusts; ingestctl waits for the
report. --local runs them here instead, with this machine's AWS credentials
(which must be the platform's), S3INGEST_STS_ENDPOINT, S3INGEST_S3_ENDPOINT and
S3INGEST_S3_REGION.`,
		Example: `  ingestctl integration verify --workspace ws1 --bucket customer-data --prefix exports/
  ingestctl integration verify --workspace ws1 --bucket customer-data --local --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if bucket == "" {
				return errors.New("--bucket is required")
			}
			p := jobs.VerifyPayload{WorkspaceID: workspace, Bucket: bucket, Prefix: prefix}
			if err := p.Validate(); err != nil {
				return err
			}
			var (
				rep *jobs.VerifyReport
				err error
			)
			if local {
				rep, err = verifyLocal(cmd.Context(), a, p)
			} else {
				rep, err = verifyOnWorker(cmd.Context(), a, p, timeout)
			}
			if err != nil {
				return err
			}
			if a.asJSON {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				printVerifyReport(a.stdout, rep)
			}
			return verifyFailure(rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&bucket, "bucket", "", "bucket to check (required)")
	f.StringVar(&prefix, "prefix", "", "key prefix to list and read")
	f.BoolVar(&local, "local", false, "run the checks in this process instead of on ingestd")
	f.DurationVar(&timeout, "timeout", defaultVerifyTimeout, "how long to wait for ingestd's report")
	return cmd
}

// verifyOnWorker enqueues a verify task and waits for ingestd's report.
func verifyOnWorker(ctx context.Context, a *app, p jobs.VerifyPayload, timeout time.Duration) (*jobs.VerifyReport, error) {
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, err
	}
	t, err := jobs.NewVerifyTask(p)
	if err != nil {
		return nil, err
	}
	c := jobs.NewClient(rdb)
	info, err := c.Enqueue(ctx, t)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done, err := c.Wait(wctx, info.Queue, info.ID, 100*time.Millisecond)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		state := "pending"
		if done != nil {
			state = done.State.String()
		}
		return nil, fmt.Errorf("no verification report within %s: task %s is still %s (is ingestd running on this Redis, serving queue %s?); "+
			"follow it with `ingestctl task status --queue %s --wait %s`, or run the checks here with --local",
			timeout, info.ID, state, info.Queue, info.Queue, info.ID)
	case err != nil:
		return nil, fmt.Errorf("verify task %s: %w", info.ID, err)
	}
	var rep jobs.VerifyReport
	if err := jobs.DecodeResult(done, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// verifyLocal runs the verification in this process with the app's
// resolver (the one `rotate --finish` uses: by default the platform's AWS
// credentials and S3INGEST_STS_ENDPOINT) and S3 at S3INGEST_S3_ENDPOINT
// (default AWS).
func verifyLocal(ctx context.Context, a *app, p jobs.VerifyPayload) (*jobs.VerifyReport, error) {
	s, err := openCredStore(ctx, a, false)
	if err != nil {
		return nil, err
	}
	r, err := a.newResolver(s)
	if err != nil {
		return nil, err
	}
	// Handlers need a sink; verification never writes to it. A file sink
	// in a temporary directory, removed afterwards, keeps that true.
	dir, err := os.MkdirTemp("", "ingestctl-verify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	snk, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		return nil, err
	}
	defer snk.Close()
	h, err := worker.NewHandlers(worker.Config{
		S3Endpoint: strings.TrimSpace(os.Getenv(envS3Endpoint)),
		S3Region:   strings.TrimSpace(os.Getenv(envS3Region)),
	}, r, snk, nil, nil)
	if err != nil {
		return nil, err
	}
	return h.Verify(ctx, p)
}

// verifyForRotation is the production app.verifyRotation: the full
// verification (in this process, like the rest of `rotate --finish`) with
// the newest External ID. It prints the report (to stderr with --json, so
// that stdout stays one JSON document) and fails when a step failed.
func (a *app) verifyForRotation(cmd *cobra.Command, workspaceID, bucket, prefix string) error {
	p := jobs.VerifyPayload{WorkspaceID: workspaceID, Bucket: bucket, Prefix: prefix}
	if err := p.Validate(); err != nil {
		return err
	}
	rep, err := verifyLocal(cmd.Context(), a, p)
	if err != nil {
		return err
	}
	out := a.stdout
	if a.asJSON {
		out = a.stderr
	}
	printVerifyReport(out, rep)
	fmt.Fprintln(out)
	return verifyFailure(rep)
}

// verifyFailure returns an error naming the failed steps, or nil.
func verifyFailure(rep *jobs.VerifyReport) error {
	var failed []string
	for _, c := range rep.Checks {
		if c.Status == jobs.CheckFail {
			failed = append(failed, c.Step+": "+c.Detail)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("verification of workspace %s against s3://%s/%s failed: %s", rep.WorkspaceID, rep.Bucket, rep.Prefix, strings.Join(failed, "; "))
}

// printVerifyReport prints one line per step (status, step, detail), the
// fix under a failed or warning step, and a summary.
func printVerifyReport(w io.Writer, rep *jobs.VerifyReport) {
	fmt.Fprintf(w, "Verification of the AWS integration of workspace %s against s3://%s/%s\n", rep.WorkspaceID, rep.Bucket, rep.Prefix)
	if rep.RoleARN != "" {
		fmt.Fprintf(w, "role %s\n", rep.RoleARN)
	}
	fmt.Fprintln(w)
	width := 0
	for _, c := range rep.Checks {
		width = max(width, len(c.Step))
	}
	var failed, warned int
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %-4s  %-*s  %s\n", strings.ToUpper(string(c.Status)), width, c.Step, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(w, "        %-*s  fix: %s\n", width, "", c.Fix)
		}
		if cmd := actionCommand(c.Action, rep); cmd != "" {
			fmt.Fprintf(w, "        %-*s  run: %s\n", width, "", cmd)
		}
		switch c.Status {
		case jobs.CheckFail:
			failed++
		case jobs.CheckWarn:
			warned++
		}
	}
	fmt.Fprintln(w)
	switch {
	case failed > 0:
		fmt.Fprintf(w, "FAILED: %s, %s\n", plural(failed, "step failed", "steps failed"), plural(warned, "warning", "warnings"))
	case warned > 0:
		fmt.Fprintf(w, "PASSED with %s: see the fixes above\n", plural(warned, "warning", "warnings"))
	default:
		fmt.Fprintln(w, "PASSED: every step passed")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
