package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
)

// sourceFlags are the flags that select objects and parse hints, shared by
// preview, ingest and schedule add.
type sourceFlags struct {
	workspace, credential string
	bucket, prefix, glob  string
	keys                  []string
	version               string
	format, compression   string
	delimiter, header     string
	encoding              string
}

func (f *sourceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.workspace, "workspace", "", "workspace ID (required)")
	fl.StringVar(&f.credential, "credential", "", "credential instance ID (default: the workspace's AWS integration)")
	fl.StringVar(&f.bucket, "bucket", "", "S3 bucket")
	fl.StringVar(&f.prefix, "prefix", "", "key prefix")
	fl.StringVar(&f.glob, "glob", "", `key glob, e.g. "exports/**/*.csv.gz"`)
	fl.StringSliceVar(&f.keys, "key", nil, "explicit object key (repeatable)")
	fl.StringVar(&f.version, "version-id", "", "version of the single --key")
	fl.StringVar(&f.format, "format", "", "csv, json or parquet (default: sniff)")
	fl.StringVar(&f.compression, "compression", "", "none, gzip, zstd or bzip2 (default: sniff)")
	fl.StringVar(&f.delimiter, "delimiter", "", `CSV delimiter, e.g. ";" or "\t" (default: sniff)`)
	fl.StringVar(&f.header, "header", "", "CSV header: present or absent (default: detect)")
	fl.StringVar(&f.encoding, "encoding", "", "text encoding: utf-8, utf-16le, utf-16be, latin-1, windows-1252 (default: detect)")
}

func (f *sourceFlags) source() jobs.Source {
	return jobs.Source{Bucket: f.bucket, Prefix: f.prefix, Glob: f.glob, Keys: f.keys, VersionID: f.version}
}

func (f *sourceFlags) parse() (parsers.Options, error) {
	o := parsers.Options{
		Format:      parsers.Format(f.format),
		Compression: parsers.Compression(f.compression),
		CSV:         parsers.CSVOptions{Header: parsers.HeaderMode(f.header), Encoding: f.encoding},
	}
	if f.delimiter != "" {
		d := strings.ReplaceAll(f.delimiter, `\t`, "\t")
		r := []rune(d)
		if len(r) != 1 {
			return o, fmt.Errorf("--delimiter %q: want one character", f.delimiter)
		}
		o.CSV.Delimiter = r[0]
	}
	return o, nil
}

// enqueue sends t and, with --wait, waits and decodes its result into res.
// It prints the task ID when not waiting. While waiting, progress (when
// not nil) is shown the task's states. When waiting stops early
// (*jobs.WaitError: a --timeout, or Redis gone past --redis-grace) the
// error says so and no result is decoded: the task goes on.
func (a *app) enqueue(ctx context.Context, t *asynq.Task, w waitFlags, res any, progress taskProgress) (*asynq.TaskInfo, bool, error) {
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, false, err
	}
	c := jobs.NewClient(rdb)
	info, err := c.Enqueue(ctx, t)
	if err != nil {
		return nil, false, err
	}
	if !w.wait {
		if a.asJSON {
			return info, false, a.printJSON(map[string]string{"task_id": info.ID, "queue": info.Queue, "type": info.Type})
		}
		a.printf("enqueued %s task %s on queue %s\n", info.Type, info.ID, info.Queue)
		a.printf("follow it with: ingestctl task status %s\n", info.ID)
		return info, false, nil
	}
	var done *asynq.TaskInfo
	var werr error
	if progress != nil {
		done, werr = a.waitTask(ctx, c, info, w, progress.update)
		progress.finish()
	} else {
		done, werr = a.waitTask(ctx, c, info, w, nil)
	}
	var we *jobs.WaitError
	if errors.As(werr, &we) {
		return info, false, werr
	}
	if done == nil { // the task could not be read (retention, queue)
		return info, false, fmt.Errorf("task %s: %w", info.ID, werr)
	}
	haveResult := len(done.Result) > 0 && res != nil
	if haveResult {
		if err := jobs.DecodeResult(done, res); err != nil {
			return done, false, err
		}
	}
	if werr != nil {
		return done, haveResult, werr
	}
	return done, true, nil
}

func newPreviewCmd(a *app) *cobra.Command {
	var (
		sf    sourceFlags
		wf    waitFlags
		file  string
		rows  int
		bytes int
	)
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "sniff, infer and show the first rows of objects (or of a local --file)",
		Example: `  ingestctl preview --file ./orders.csv.gz --json
  ingestctl preview --workspace ws1 --bucket data --prefix exports/ --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := sf.parse()
			if err != nil {
				return err
			}
			if file != "" {
				return a.previewFile(cmd.Context(), file, opts, rows, bytes)
			}
			t, err := jobs.NewPreviewTask(jobs.PreviewPayload{WorkspaceID: sf.workspace, CredentialID: sf.credential,
				Source: sf.source(), Parse: opts, Rows: rows})
			if err != nil {
				return nameFlags(err)
			}
			var res jobs.PreviewResult
			_, done, err := a.enqueue(cmd.Context(), t, wf, &res, nil)
			if err != nil || !done {
				return err
			}
			if a.asJSON {
				return a.printJSON(res)
			}
			a.printf("%d objects, %d bytes%s; first keys:\n", res.Listing.Objects, res.Listing.Bytes, truncMark(res.Listing.Truncated))
			for _, k := range res.Listing.FirstKeys {
				a.printf("  %s\n", k)
			}
			a.printf("\nsampled %s\n", res.Object)
			a.printPreview(res.PreviewResult)
			return nil
		},
	}
	sf.register(cmd)
	wf.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "preview a local file instead of S3 objects (no Redis needed)")
	cmd.Flags().IntVar(&rows, "rows", parsers.DefaultPreviewRows, "rows to show")
	cmd.Flags().IntVar(&bytes, "head-bytes", parsers.DefaultPreviewHeadBytes, "bytes of a CSV/JSON head to read (local mode)")
	return cmd
}

func truncMark(t bool) string {
	if t {
		return " (listing stopped early)"
	}
	return ""
}

// previewFile runs the same sniff, inference and preview on a local file.
func (a *app) previewFile(ctx context.Context, path string, opts parsers.Options, rows, headBytes int) error {
	obj, err := parsers.FileObject(path)
	if err != nil {
		return err
	}
	res, err := parsers.Preview(ctx, obj, opts, rows, headBytes)
	if err != nil {
		return err
	}
	if a.asJSON {
		return a.printJSON(res)
	}
	a.printPreview(res)
	return nil
}

// printPreview prints a preview for people: dialect, schema with reasons,
// rows as a table, warnings.
func (a *app) printPreview(res *parsers.PreviewResult) {
	a.printf("format %s, compression %s", res.Format, res.Compression)
	if res.Format == parsers.FormatCSV {
		a.printf(", delimiter %q, header %v, encoding %s", res.Delimiter, res.Header, res.Encoding)
	}
	if res.JSONLayout != "" {
		a.printf(", layout %s", res.JSONLayout)
	}
	a.printf("\n\nschema:\n")
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	for _, f := range res.Schema.Fields {
		null := ""
		if f.Nullable {
			null = "nullable"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Name, f.Type, null, f.Reason)
	}
	tw.Flush()
	a.printf("\nfirst %d rows:\n", len(res.Rows))
	tw = tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+strings.Join(res.Schema.Names(), "\t"))
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			switch v := v.(type) {
			case nil:
				cells[i] = "∅"
			case []byte:
				cells[i] = string(v)
			default:
				cells[i] = fmt.Sprint(v)
			}
			if len(cells[i]) > 40 {
				cells[i] = cells[i][:37] + "..."
			}
		}
		fmt.Fprintln(tw, "  "+strings.Join(cells, "\t"))
	}
	tw.Flush()
	for _, w := range res.Warnings {
		a.printf("warning: %s\n", w)
	}
}

// budgetFlags set an ingest's error budget.
type budgetFlags struct{ b jobs.ErrorBudget }

func (f *budgetFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Int64Var(&f.b.ObjectMaxRows, "max-rejects", 0, "rejected rows tolerated per object (default: none)")
	fl.Float64Var(&f.b.ObjectMaxFraction, "max-reject-fraction", 0, "rejected fraction tolerated per object, 0..1")
	fl.Int64Var(&f.b.JobMaxRows, "job-max-rejects", 0, "rejected rows tolerated across the job")
	fl.Float64Var(&f.b.JobMaxFraction, "job-max-reject-fraction", 0, "rejected fraction tolerated across the job, 0..1")
}

func newIngestCmd(a *app) *cobra.Command {
	var (
		sf          sourceFlags
		wf          waitFlags
		bf          budgetFlags
		cf          contractFlags
		dataset     string
		concurrency int
		dryRun      bool
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "enqueue an ingest of matching objects into a dataset",
		Example: `  ingestctl ingest --workspace ws1 --bucket data --prefix exports/ --dataset orders --max-rejects 100 --wait
  ingestctl ingest --workspace ws1 --bucket data --prefix exports/ --dataset orders --schema-hints 'amount:string' --evolution rescue --lineage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := sf.parse()
			if err != nil {
				return err
			}
			contract, err := cf.contract()
			if err != nil {
				return err
			}
			p := jobs.IngestPayload{WorkspaceID: sf.workspace, CredentialID: sf.credential,
				Source: sf.source(), Parse: opts, Dataset: dataset, ErrorBudget: bf.b, Concurrency: concurrency, Contract: contract}
			if dryRun {
				return a.dryRun(cmd, p, wf)
			}
			t, err := jobs.NewIngestTask(p)
			if err != nil {
				return nameFlags(err)
			}
			var res jobs.IngestResult
			info, haveResult, err := a.enqueue(cmd.Context(), t, wf, &res, a.ingestProgress(wf))
			if !wf.wait || (err != nil && !haveResult) {
				return err
			}
			if a.asJSON {
				if perr := a.printJSON(res); perr != nil {
					return perr
				}
			} else {
				a.printIngest(&res)
			}
			if err != nil {
				return fmt.Errorf("task %s: %w", info.ID, err)
			}
			return nil
		},
	}
	sf.register(cmd)
	wf.register(cmd)
	bf.register(cmd)
	cf.register(cmd)
	cmd.Flags().StringVar(&dataset, "dataset", "", "target dataset (required)")
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "objects read at once (default: the daemon's)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only say which objects the ingest would read, replace, skip as loaded or modified, or ignore (runs on ingestd; implies --wait)")
	return cmd
}

// dryRun enqueues a dry run of the ingest p, waits for it and prints what
// the ingest would do with each object.
func (a *app) dryRun(cmd *cobra.Command, p jobs.IngestPayload, wf waitFlags) error {
	t, err := jobs.NewDryRunTask(p)
	if err != nil {
		return nameFlags(err)
	}
	wf.wait = true
	var res jobs.DryRunResult
	info, haveResult, err := a.enqueue(cmd.Context(), t, wf, &res, nil)
	if err != nil && !haveResult {
		return err
	}
	if err != nil {
		return fmt.Errorf("task %s: %w", info.ID, err)
	}
	if a.asJSON {
		return a.printJSON(res)
	}
	exists := "exists"
	if !res.DatasetExists {
		exists = "does not exist yet: the ingest would create it"
	}
	a.printf("dataset %s %s\n", res.Dataset, exists)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tSIZE\tKEY")
	for _, o := range res.Objects {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", o.Action, o.Size, o.Key)
	}
	tw.Flush()
	if res.Truncated {
		a.printf("(only the first %d objects are listed)\n", len(res.Objects))
	}
	var parts []string
	for _, act := range []jobs.DryRunAction{jobs.DryRunRead, jobs.DryRunReplace, jobs.DryRunAppend, jobs.DryRunLoaded, jobs.DryRunModifiedSkip, jobs.DryRunEmpty} {
		if n := res.Counts[act]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, act))
		}
	}
	a.printf("would %s; %d bytes to read\n", strings.Join(parts, ", "), res.Bytes)
	return nil
}

func (a *app) printIngest(r *jobs.IngestResult) {
	a.printf("%s\n", r)
	for _, e := range r.Errors {
		a.printf("failed: %s: %s\n", e.Object, e.Error)
	}
	for _, rj := range r.Rejects {
		a.printf("rejected: %s\n", rj.Error)
	}
}

// rawJSON keeps a JSON result as-is in --json output.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func newScheduleCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "scheduled re-ingests (only new or changed objects are read)"}
	var (
		sf          sourceFlags
		bf          budgetFlags
		cf          contractFlags
		id, cron    string
		dataset     string
		concurrency int
	)
	add := &cobra.Command{
		Use:     "add",
		Short:   "add or replace a schedule",
		Example: `  ingestctl schedule add --workspace ws1 --id nightly --cron "0 3 * * *" --bucket data --prefix exports/ --dataset orders`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := sf.parse()
			if err != nil {
				return err
			}
			contract, err := cf.contract()
			if err != nil {
				return err
			}
			sc := jobs.Schedule{ID: id, Cron: cron, Ingest: jobs.IngestPayload{WorkspaceID: sf.workspace, CredentialID: sf.credential,
				Source: sf.source(), Parse: opts, Dataset: dataset, ErrorBudget: bf.b, Concurrency: concurrency, Contract: contract}}
			// Validated before Redis is reached (a typo needs no server),
			// with the schedule ID set as Put sets it.
			sc.Ingest.ScheduleID = id
			if err := sc.Validate(); err != nil {
				return nameFlags(err)
			}
			rdb, err := a.redis(cmd.Context())
			if err != nil {
				return err
			}
			if err := jobs.NewSchedules(rdb).Put(cmd.Context(), sc); err != nil {
				return nameFlags(err)
			}
			a.printf("schedule %s/%s: %s -> dataset %s at %q\n", sf.workspace, id, sc.Ingest.Source, dataset, cron)
			return nil
		},
	}
	sf.register(add)
	bf.register(add)
	cf.register(add)
	add.Flags().StringVar(&id, "id", "", "schedule ID within the workspace (required)")
	add.Flags().StringVar(&cron, "cron", "", `cron spec, e.g. "*/15 * * * *" or "@hourly" (required)`)
	add.Flags().StringVar(&dataset, "dataset", "", "target dataset (required)")
	add.Flags().IntVar(&concurrency, "concurrency", 0, "objects read at once")

	var lsWorkspace string
	list := &cobra.Command{
		Use:   "list [--workspace W]",
		Short: "list schedules with their next run and the result of their last run",
		Long: `List schedules: cron spec, next run (computed as ingestd's scheduler does, in
UTC), and the last run: running, waiting, or when it finished with its rows and
objects or its error. A run is kept 7 days after it finished.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rdb, err := a.redis(cmd.Context())
			if err != nil {
				return err
			}
			all, err := jobs.NewSchedules(rdb).List(cmd.Context(), lsWorkspace)
			if err != nil {
				return err
			}
			rows, err := scheduleRows(asynq.NewInspectorFromRedisClient(rdb), all, time.Now())
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(rows)
			}
			if len(rows) == 0 {
				a.printf("no schedules (add one with `ingestctl schedule add`)\n")
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKSPACE\tID\tCRON\tNEXT RUN\tLAST RUN\tSOURCE\tDATASET")
			for _, r := range rows {
				next := "-"
				if r.NextRun != nil {
					next = relTime(*r.NextRun, now)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Ingest.WorkspaceID, r.ID, r.Cron, next, r.LastRun.text(now), r.Ingest.Source, r.Ingest.Dataset)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&lsWorkspace, "workspace", "", "only this workspace")

	var rmWorkspace, rmID string
	remove := &cobra.Command{
		Use:   "remove",
		Short: "remove a schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rdb, err := a.redis(cmd.Context())
			if err != nil {
				return err
			}
			if err := jobs.NewSchedules(rdb).Remove(cmd.Context(), rmWorkspace, rmID); err != nil {
				return err
			}
			a.printf("removed schedule %s/%s\n", rmWorkspace, rmID)
			return nil
		},
	}
	remove.Flags().StringVar(&rmWorkspace, "workspace", "", "workspace ID (required)")
	remove.Flags().StringVar(&rmID, "id", "", "schedule ID (required)")
	cmd.AddCommand(add, list, remove)
	return cmd
}
