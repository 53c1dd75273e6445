package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

// HandleIngest runs a jobs.TypeIngest task: it lists the source, skips
// objects the dataset's ledger already has, and streams each remaining object
// through its parser into the sink, committing rows and the ledger entry of
// each object atomically. Progress and the final jobs.IngestResult are
// written to the task's result.
func (h *Handlers) HandleIngest(ctx context.Context, t *asynq.Task) error {
	var p jobs.IngestPayload
	if err := jobs.Decode(t.Payload(), &p); err != nil {
		return err
	}
	log := h.log.With(zap.String("task_id", taskID(t)), zap.String("workspace", p.WorkspaceID),
		zap.String("dataset", p.Dataset), zap.Stringer("source", p.Source))
	c, res, err := h.client(ctx, p.WorkspaceID, p.CredentialID)
	if err != nil {
		log.Warn("ingest: credentials", zap.Error(err))
		return err
	}
	log = log.With(zap.String("credentials", res.Source))
	log.Info("ingest: start", zap.Int("concurrency", p.Concurrency))
	run := newIngestRun(h, p, c, log, t.ResultWriter())
	if n, ok := asynq.GetRetryCount(ctx); ok {
		run.attempt = n + 1
	}
	err = run.run(ctx)
	if err != nil {
		log.Warn("ingest: failed", zap.Error(err), zap.Int64("objects", run.objects.Load()), zap.Int64("rows", run.rows.Load()))
	} else {
		log.Info("ingest: done", zap.Int64("objects", run.objects.Load()), zap.Int64("skipped", run.skipped.Load()),
			zap.Int64("rows", run.rows.Load()), zap.Int64("rejected", run.budget.rejected.Load()), zap.Duration("took", time.Since(run.start)))
	}
	return err
}

// ingestRun is the state of one ingest task: list the source, skip what
// the dataset's ledger has, ingest each remaining object (parse → sink →
// commit), and report snapshots of the counts as progress and as the final
// result.
type ingestRun struct {
	h     *Handlers
	p     jobs.IngestPayload
	ds    sink.Dataset // the job's dataset: p.Dataset of workspace p.WorkspaceID
	src   *source.Client
	log   *zap.Logger
	w     *asynq.ResultWriter
	start time.Time

	budget *errorBudget // rejected rows, rows read, their limits and first samples

	// asked, pinned and hints are the job's contract as the sink's types
	// (asked holds only what the payload set): the dataset's settings when
	// the job creates it, and what an existing dataset must agree with.
	// settings are the effective ones: the dataset's once it exists,
	// asked with defaults before.
	asked, settings sink.Settings
	pinned, hints   []sink.Pin
	// exists is set once the dataset has a record: until then objects
	// are read one at a time, so one object creates the dataset and the
	// others evolve it (two objects never both "create" it).
	exists atomic.Bool

	listed, objects, skipped, modified, failed, empty, rows, bytes atomic.Int64
	// Progress: objects and bytes to read, bytes fetched, rows parsed.
	toRead, bytesTotal, bytesRead, rowsRead atomic.Int64
	listingDone                             atomic.Bool
	attempt                                 int

	mu           sync.Mutex
	errors       []jobs.ObjectError  // first failed objects, guarded by mu
	warnings     []string            // first parser warnings, guarded by mu
	changes      []jobs.SchemaChange // schema changes made by the run, guarded by mu
	modifiedKeys []string            // first objects skipped as modified, guarded by mu
}

// newIngestRun returns the run of payload p reading through src.
func newIngestRun(h *Handlers, p jobs.IngestPayload, src *source.Client, log *zap.Logger, w *asynq.ResultWriter) *ingestRun {
	settings, pinned, hints := contractOf(p.Contract)
	return &ingestRun{h: h, p: p, ds: sink.Dataset{Workspace: p.WorkspaceID, Name: p.Dataset}, src: src, log: log, w: w,
		start: time.Now(), budget: newErrorBudget(p.ErrorBudget), asked: settings, settings: settings.WithDefaults(), pinned: pinned, hints: hints}
}

// contractOf returns a payload's contract in the sink's types.
func contractOf(c jobs.Contract) (sink.Settings, []sink.Pin, []sink.Pin) {
	s := sink.Settings{Evolution: sink.Evolution(c.Evolution), Modified: sink.Modified(c.Modified),
		AllowWidening: c.AllowWidening, Lineage: c.Lineage, Compression: sink.Codec(c.Compression)}
	pins := func(cs []jobs.ColumnSpec) []sink.Pin {
		var out []sink.Pin
		for _, c := range cs {
			out = append(out, sink.Pin{Name: c.Name, Type: c.Type, NotNull: c.NotNull})
		}
		return out
	}
	return s, pins(c.Schema), pins(c.SchemaHints)
}

// run ingests the source while reporting progress, then writes the final
// result. Some objects failing for good (bad data, access denied to them)
// fails the task for good once the others are committed.
func (r *ingestRun) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProgress := r.reportProgress(ctx)
	err := r.ingestAll(ctx)
	stopProgress() // no progress report may overwrite the final result

	res := r.snapshot()
	res.Done = err == nil
	if res.Done && res.Objects == 0 && res.Failed == 0 && res.Skipped+res.SkippedModified > 0 {
		res.Note = fmt.Sprintf("nothing to load: all %d matching objects were already loaded", res.Skipped+res.SkippedModified)
		if res.SkippedModified > 0 {
			res.Note += fmt.Sprintf(" (%d of them in an earlier version, skipped by the dataset's modified policy skip)", res.SkippedModified)
		}
	}
	r.writeResult(&res)
	if err != nil {
		return err
	}
	if res.Failed > 0 {
		return &Permanent{Err: fmt.Errorf("%d of %d objects failed (the others were committed; a retry reads only the failed ones): first: %s",
			res.Failed, res.Failed+res.Objects, res.Errors[0].Error)}
	}
	return nil
}

// ingestAll walks the source and ingests every object the ledger does not
// have, Concurrency at a time (and at most Config.MaxObjects at once across
// the process); each object is reconciled with the dataset on its own.
// Empty objects are counted, not read; new versions of loaded objects follow
// the dataset's modified-object policy. A source that matches no object
// fails the job.
func (r *ingestRun) ingestAll(ctx context.Context) error {
	if err := r.checkContract(ctx); err != nil {
		return err
	}
	conc := r.p.Concurrency
	if conc == 0 {
		conc = r.h.cfg.Concurrency
	}
	conc = min(conc, r.h.cfg.MaxObjects)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)

	visit := func(info source.ObjectInfo) error {
		r.listed.Add(1)
		if info.Size == 0 {
			// Markers such as _SUCCESS hold no rows: never read.
			r.empty.Add(1)
			r.h.metrics.objects.WithLabelValues("empty").Inc()
			return nil
		}
		look, err := r.h.sink.Lookup(gctx, r.ds, refOf(info))
		if err != nil {
			return fmt.Errorf("ledger of dataset %s: %w", r.ds, err)
		}
		switch {
		case look.Loaded:
			r.skipped.Add(1)
			r.h.metrics.objects.WithLabelValues("skipped").Inc()
			return nil
		case len(look.Earlier) > 0 && r.settings.Modified == sink.ModifiedSkip:
			r.skipModified(info)
			return nil
		}
		r.toRead.Add(1)
		r.bytesTotal.Add(info.Size)
		if !r.exists.Load() {
			// Sequential until the dataset exists.
			return r.object(gctx, info, look)
		}
		g.Go(func() error { return r.object(gctx, info, look) })
		return nil
	}
	listErr := r.src.Each(gctx, selection(r.p.Source), visit)
	r.listingDone.Store(listErr == nil)
	if err := g.Wait(); err != nil {
		return err // an object's error cancels the listing: it is the cause
	}
	if listErr == nil && r.listed.Load() == 0 {
		return &NoMatchError{Bucket: r.p.Source.Bucket, Prefix: r.p.Source.Prefix, Glob: r.p.Source.Glob}
	}
	return listErr
}

// checkContract fails the job when the dataset exists with other settings
// than the job asks for: a dataset's contract changes deliberately, not
// with the next job that happens to run.
func (r *ingestRun) checkContract(ctx context.Context) error {
	rec, err := r.dataset(ctx)
	if err != nil || rec == nil {
		return err
	}
	if diff := sink.SettingsDiff(rec.Settings, r.asked); len(diff) > 0 {
		return &sink.ContractError{Dataset: r.ds, Differences: diff}
	}
	r.settings = rec.Settings.ForJob(r.asked)
	r.exists.Store(true)
	return nil
}

// dataset returns the dataset's record, or nil when it does not exist yet.
func (r *ingestRun) dataset(ctx context.Context) (*sink.DatasetInfo, error) {
	rec, err := r.h.sink.Dataset(ctx, r.ds)
	switch {
	case errors.Is(err, sink.ErrDatasetNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("dataset %s: %w", r.ds, err)
	}
	return rec, nil
}

// skipModified counts an object skipped because its key was loaded in
// another version and the dataset's policy is skip.
func (r *ingestRun) skipModified(info source.ObjectInfo) {
	r.modified.Add(1)
	r.h.metrics.objects.WithLabelValues("skipped").Inc()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.modifiedKeys) < jobs.MaxRejectSamples {
		r.modifiedKeys = append(r.modifiedKeys, "s3://"+info.Bucket+"/"+info.Key)
	}
}

// selection is the source package's name for the objects of s.
func selection(s jobs.Source) source.Selection {
	return source.Selection{Bucket: s.Bucket, Prefix: s.Prefix, Glob: s.Glob, Keys: s.Keys, VersionID: s.VersionID}
}

// object ingests one object. Permanent problems of the object (bad data, a
// spent per-object budget, access denied to it) fail only this object;
// transient ones and a spent job budget end the whole run.
func (r *ingestRun) object(ctx context.Context, info source.ObjectInfo, look sink.Lookup) error {
	select {
	case r.h.objects <- struct{}{}:
		defer func() { <-r.h.objects }()
	case <-ctx.Done():
		return ctx.Err()
	}
	r.h.metrics.activeObjects.Inc()
	r.h.metrics.inflightBytes.Add(float64(info.Size))
	defer func() {
		r.h.metrics.activeObjects.Dec()
		r.h.metrics.inflightBytes.Sub(float64(info.Size))
	}()
	obj := &countingObject{Object: r.src.Object(ctx, info), n: &r.bytesRead}
	var err error
	var discarded bool
	for attempt := 1; ; attempt++ {
		discarded, err = r.ingestObject(ctx, info, obj, look)
		var sc *sink.SchemaConflictError
		if !errors.As(err, &sc) || attempt == maxReconcileAttempts || ctx.Err() != nil {
			break
		}
		r.log.Info("ingest: schema changed concurrently; reconciling again", zap.String("object", obj.Name()), zap.Error(err))
	}
	switch {
	case err == nil && discarded:
		// A concurrent run committed this object version first: the
		// dataset received nothing from this one. The result counts it as
		// skipped: the ledger had it when this run committed.
		r.exists.Store(true)
		r.skipped.Add(1)
		r.h.metrics.objects.WithLabelValues("duplicate").Inc()
		r.log.Info("ingest: commit discarded: the dataset already has this version or a newer one of the key", zap.String("object", obj.Name()))
		return nil
	case err == nil:
		r.objects.Add(1)
		r.exists.Store(true)
		r.bytes.Add(info.Size)
		r.h.metrics.objects.WithLabelValues("committed").Inc()
		r.h.metrics.bytes.Add(float64(info.Size))
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	var be *BudgetError
	if errors.As(err, &be) && be.Scope == "job" {
		return err // the job's budget is spent: the run ends
	}
	var ce *sink.ContractError
	if errors.As(err, &ce) {
		return err // every object would fail the same way
	}
	if !isPermanent(err) {
		return fmt.Errorf("%s: %w", obj.Name(), err)
	}
	r.failed.Add(1)
	r.h.metrics.objects.WithLabelValues("failed").Inc()
	r.log.Warn("ingest: object failed", zap.String("object", obj.Name()), zap.Error(err))
	r.mu.Lock()
	if len(r.errors) < jobs.MaxRejectSamples {
		r.errors = append(r.errors, jobs.ObjectError{Object: obj.Name(), Error: err.Error()})
	}
	r.mu.Unlock()
	return nil
}

func refOf(info source.ObjectInfo) sink.ObjectRef {
	return sink.ObjectRef{Bucket: info.Bucket, Key: info.Key, VersionID: info.VersionID, ETag: info.ETag,
		Size: info.Size, LastModified: info.LastModified}
}

// maxReconcileAttempts bounds how often one object is reconciled and read
// again after a concurrent commit changed the dataset's schema under it.
const maxReconcileAttempts = 3

// ingestObject reconciles obj with the dataset (sniffing and sampling it on
// its own), parses it with the plan's schema into a sink writer and commits
// it, or aborts the writer so nothing of the object stays behind.
func (r *ingestRun) ingestObject(ctx context.Context, info source.ObjectInfo, obj parsers.Object, look sink.Lookup) (discarded bool, err error) {
	var w sink.Writer
	budget := r.budget.object(obj.Name())
	defer func() {
		var sc *sink.SchemaConflictError
		if errors.As(err, &sc) { // read again: this attempt's counts go
			budget.undo()
			r.rowsRead.Add(-budget.read)
		}
	}()
	opts := r.p.Parse
	opts.Schema = nil // sniffed and sampled on its own
	opts.OnWarning = func(msg string) { r.warn(obj.Name(), msg) }
	opts.OnReject = func(pe *parsers.ParseError) error {
		r.h.metrics.rejected.Inc()
		if w != nil {
			if err := w.Reject(ctx, sink.Reject{Line: pe.Line, Row: pe.Row, Column: pe.Column, Value: pe.Value, Error: pe.Error()}); err != nil {
				return fmt.Errorf("record rejected row: %w", err)
			}
		}
		return budget.reject(pe)
	}

	rd, err := parsers.Open(ctx, obj, opts)
	if err != nil {
		return false, err
	}
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	rec, err := r.reconcile(ctx, info, obj, look, rd.Schema())
	if err != nil {
		return false, err
	}
	plan := rec.Plan
	read, rescue := rec.Read, rec.Rescue
	if parserRescues(plan) {
		// The parser rescues: values of columns outside the dataset and
		// values that do not fit their column's type go to the rescue
		// column, row by row, instead of being rejected.
		read, rescue = rescueReadSchema(rec.Read, rec.Rescue), nil
		opts.RescueColumn = sink.RescueColumn
	}
	if opts.RescueColumn != "" || !readsAs(rd.Schema(), read) {
		// Read again with the plan's schema and the dialect sniffed. (Open
		// rejects no row: rows are rejected by Next only.)
		sniffed := rd.Info()
		rd.Close()
		opts = withDialect(opts, sniffed)
		opts.Schema = read
		if rd, err = parsers.Open(ctx, obj, opts); err != nil {
			return false, err
		}
	}
	asm, err := newAssembler(plan.Columns, plan.Settings, rd.Schema(), rescue, refOf(info), time.Now())
	if err != nil {
		return false, fmt.Errorf("dataset %s: %s: %w", r.ds, obj.Name(), err)
	}

	w, err = r.h.sink.Begin(ctx, r.ds, refOf(info), plan)
	if err != nil {
		return false, fmt.Errorf("dataset %s: %w", r.ds, err)
	}
	defer func() {
		if err != nil {
			if aerr := w.Abort(context.WithoutCancel(ctx)); aerr != nil {
				r.log.Error("ingest: abort writer", zap.String("object", obj.Name()), zap.Error(aerr))
			}
		}
	}()
	b := schema.NewBatch(rd.Schema(), batchRows(opts))
	for {
		err := rd.Next(ctx, b)
		if b.Len() > 0 {
			out := asm.batch(b)
			if werr := r.write(ctx, w, out, obj.Name(), opts.OnReject); werr != nil {
				return false, werr
			}
			budget.accept(int64(out.Len()))
			r.rowsRead.Add(int64(out.Len()))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, err
		}
	}
	if err := budget.finish(); err != nil {
		return false, err
	}
	if err := w.Commit(ctx, sink.Stats{Rows: budget.read, Rejected: budget.rejected, Bytes: info.Size}); err != nil {
		return false, fmt.Errorf("dataset %s: commit %s: %w", r.ds, obj.Name(), err)
	}
	if sink.Discarded(w) {
		return true, nil // the rows, the rejects and the schema change went with it
	}
	r.rows.Add(budget.read)
	r.h.metrics.rows.Add(float64(budget.read))
	if plan.Change != nil {
		r.recordChange(obj.Name(), plan.Change)
	}
	return false, nil
}

// reconcile reconciles the object's own schema (inferred) with the
// dataset's current record.
func (r *ingestRun) reconcile(ctx context.Context, info source.ObjectInfo, obj parsers.Object, look sink.Lookup, inferred *schema.Schema) (*sink.Reconciliation, error) {
	ds, err := r.dataset(ctx)
	if err != nil {
		return nil, err
	}
	if ds != nil {
		if diff := sink.SettingsDiff(ds.Settings, r.asked); len(diff) > 0 {
			return nil, &sink.ContractError{Dataset: r.ds, Differences: diff}
		}
	}
	rec, err := sink.Reconcile(sink.ReconcileInput{Dataset: ds, Name: r.ds, Object: refOf(info), Inferred: inferred,
		Settings: r.settings, Schema: r.pinned, Hints: r.hints, Earlier: look.Earlier,
		Capabilities: r.h.sink.Capabilities(), Now: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	for _, c := range rec.Conflicts {
		r.warn(obj.Name(), c.String())
	}
	if len(rec.Rescue) > 0 {
		r.warn(obj.Name(), fmt.Sprintf("columns %s are not in the dataset (evolution rescue): their values are kept in %s",
			strings.Join(rec.Rescue, ", "), sink.RescueColumn))
	}
	return rec, nil
}

// readsAs reports whether a reader of schema have delivers batches of
// schema want: the same names and types in the same order, and no column
// that want forbids nulls in may hold them. An inferred column is only
// non-nullable when the sample covered the whole object without a null
// (or a Parquet column is REQUIRED), so the sniffing reader serves the
// plan and the object is read once.
func readsAs(have, want *schema.Schema) bool {
	if len(have.Fields) != len(want.Fields) {
		return false
	}
	for i, h := range have.Fields {
		w := want.Fields[i]
		if h.Name != w.Name || h.Type != w.Type || (h.Nullable && !w.Nullable) {
			return false
		}
	}
	return true
}

// parserRescues reports whether the parser fills the plan's rescue column
// itself: in rescue mode, for every format (CSV, JSON and Parquet rescue
// the values of columns outside the dataset and the values that do not fit
// their column's type, row by row; see parsers.Options.RescueColumn).
func parserRescues(plan sink.Plan) bool {
	if plan.Settings.Evolution != sink.EvolutionRescue {
		return false
	}
	for _, c := range plan.Columns {
		if c.Name == sink.RescueColumn {
			return true
		}
	}
	return false
}

// rescueReadSchema is the read schema for a parser that rescues: the
// dataset's data columns (without the columns outside the dataset, which
// the parser rescues) plus the rescue column.
func rescueReadSchema(read *schema.Schema, outside []string) *schema.Schema {
	skip := make(map[string]bool, len(outside))
	for _, n := range outside {
		skip[n] = true
	}
	out := &schema.Schema{}
	for _, f := range read.Fields {
		if !skip[f.Name] {
			out.Fields = append(out.Fields, f)
		}
	}
	out.Fields = append(out.Fields, schema.Field{Name: sink.RescueColumn, Type: schema.JSON, Nullable: true,
		Reason: "rescued values: columns outside the dataset and values that do not fit their column's type"})
	return out
}

// withDialect returns opts with the format, compression and CSV dialect
// sniffed on the object, where opts leaves them to sniffing, so the object
// is read again the same way.
func withDialect(opts parsers.Options, sniffed parsers.Info) parsers.Options {
	if opts.Format == parsers.FormatAuto {
		opts.Format = sniffed.Format
	}
	if opts.Compression == parsers.CompressionAuto {
		opts.Compression = sniffed.Compression
	}
	if sniffed.Format == parsers.FormatCSV {
		if d := []rune(sniffed.Delimiter); opts.CSV.Delimiter == 0 && len(d) == 1 {
			opts.CSV.Delimiter = d[0]
		}
		if opts.CSV.Header == parsers.HeaderAuto {
			opts.CSV.Header = parsers.HeaderAbsent
			if sniffed.Header {
				opts.CSV.Header = parsers.HeaderPresent
			}
		}
		if opts.CSV.Encoding == "" {
			opts.CSV.Encoding = sniffed.Encoding
		}
	}
	return opts
}

// recordChange lists a schema change the run made in the result.
func (r *ingestRun) recordChange(object string, ch *sink.SchemaChange) {
	c := jobs.SchemaChange{Object: object, Version: ch.Version, Created: ch.Version == 1, Reason: ch.Reason}
	for _, a := range ch.Added {
		c.Added = append(c.Added, jobs.ColumnChange{Name: a.Name, Type: a.Type, Nullable: a.Nullable, Reason: a.Reason})
	}
	for _, w := range ch.Widened {
		c.Widened = append(c.Widened, jobs.ColumnChange{Name: w.Column, From: w.From.String(), Type: w.To, Nullable: true})
	}
	r.log.Info("ingest: dataset schema changed", zap.String("object", object), zap.Int64("version", ch.Version), zap.String("reason", ch.Reason))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.changes) < maxSchemaChanges {
		r.changes = append(r.changes, c)
	}
}

// maxSchemaChanges bounds the schema changes a result lists (the dataset's
// history has them all).
const maxSchemaChanges = 100

// write hands b to the sink. A value the sink cannot store (a NUL byte for
// PostgreSQL, a date out of its range) rejects its row like a parse error,
// within the error budget, and the rest of the batch is written.
func (r *ingestRun) write(ctx context.Context, w sink.Writer, b *schema.Batch, object string, reject func(*parsers.ParseError) error) error {
	for {
		err := w.Write(ctx, b)
		var ve *sink.ValueError
		if !errors.As(err, &ve) || ve.Row < 0 || ve.Row >= b.Len() {
			if err != nil {
				return fmt.Errorf("dataset %s: write: %w", r.ds, err)
			}
			return nil
		}
		pe := &parsers.ParseError{Object: object, Line: ve.Line, RowGroup: -1, Column: ve.Column,
			Err: fmt.Errorf("%w: the dataset cannot store it: %s", parsers.ErrType, ve.Reason), Hint: "fix the value at the source"}
		if err := reject(pe); err != nil {
			return err
		}
		b.DeleteRow(ve.Row)
		if b.Len() == 0 {
			return nil
		}
	}
}

// maxWarnings bounds the warnings an ingest result lists.
const maxWarnings = 20

// warn logs a parser warning about an object (a JSON key or CSV column the
// job's schema does not have, an encoding fallback...) and lists the first
// ones in the result, so nothing is dropped silently.
func (r *ingestRun) warn(object, msg string) {
	r.log.Warn("ingest: parser warning", zap.String("object", object), zap.String("warning", msg))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.warnings) < maxWarnings {
		if !strings.HasPrefix(msg, object+": ") { // parsers name the object in some warnings
			msg = object + ": " + msg
		}
		r.warnings = append(r.warnings, msg)
	}
}

func batchRows(o parsers.Options) int {
	if o.BatchRows > 0 {
		return o.BatchRows
	}
	return parsers.DefaultBatchRows
}

// snapshot returns the run's result so far: the counts, the first failed
// objects, rejected rows and warnings. Progress reports and the final
// result are both snapshots.
func (r *ingestRun) snapshot() jobs.IngestResult {
	res := jobs.IngestResult{Dataset: r.p.Dataset, Objects: r.objects.Load(), Skipped: r.skipped.Load(),
		SkippedModified: r.modified.Load(), Failed: r.failed.Load(), Empty: r.empty.Load(), Rows: r.rows.Load(),
		Bytes: r.bytes.Load(), Duration: jobs.Duration(time.Since(r.start))}
	res.Rejected, res.Rejects = r.budget.rejects()
	res.ObjectsTotal, res.ListingDone = r.toRead.Load(), r.listingDone.Load()
	res.BytesTotal, res.BytesRead, res.RowsRead = r.bytesTotal.Load(), r.bytesRead.Load(), r.rowsRead.Load()
	if secs := time.Since(r.start).Seconds(); secs > 0 {
		res.BytesPerSecond = float64(res.BytesRead) / secs
	}
	if res.ListingDone && res.BytesPerSecond > 0 && res.BytesTotal > res.BytesRead {
		res.ETASeconds = float64(res.BytesTotal-res.BytesRead) / res.BytesPerSecond
	}
	res.Attempt = r.attempt
	r.mu.Lock()
	res.Errors = slices.Clone(r.errors)
	res.Warnings = slices.Clone(r.warnings)
	res.SchemaChanges = slices.Clone(r.changes)
	res.ModifiedKeys = slices.Clone(r.modifiedKeys)
	r.mu.Unlock()
	return res
}

// reportProgress writes a snapshot to the task result every
// ProgressInterval until the returned stop is called (stop waits for the
// goroutine, owned by the run, to end; it may be called more than once).
func (r *ingestRun) reportProgress(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(r.h.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				res := r.snapshot()
				r.writeResult(&res)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-exited }) }
}

func (r *ingestRun) writeResult(res *jobs.IngestResult) {
	if r.w == nil {
		return
	}
	b, err := json.Marshal(res)
	if err == nil {
		_, err = r.w.Write(b)
	}
	if err != nil {
		r.log.Warn("ingest: write result", zap.Error(err))
	}
}

func taskID(t *asynq.Task) string {
	if w := t.ResultWriter(); w != nil {
		return w.TaskID()
	}
	return ""
}
