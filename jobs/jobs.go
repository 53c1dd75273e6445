// Package jobs is the contract between the platform's API (which enqueues
// work) and ingestd (which runs it): task type names, payloads, results,
// default task options, enqueue helpers and schedules.
//
// Payloads carry IDs, never secrets: operators see them in asynqmon.
package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/ident"
	"github.com/s3ingest/s3ingest/parsers"
)

// Task type names.
const (
	// TypePreview samples objects and returns their inferred schema and first
	// rows (PreviewPayload → PreviewResult).
	TypePreview = "ingest:preview"
	// TypeIngest loads every matching object into a dataset (IngestPayload →
	// IngestResult).
	TypeIngest = "ingest:run"
	// TypeVerify checks a workspace's AWS integration step by step
	// (VerifyPayload → VerifyReport).
	TypeVerify = "integration:verify"
	// TypeDryRun says what an ingest would do without reading or writing
	// any row: which objects it would read, skip as loaded, skip or
	// replace as modified, or ignore (IngestPayload → DryRunResult).
	TypeDryRun = "ingest:dry-run"
)

// Queue names. ingestd weights them (see its S3INGEST_QUEUES setting):
// interactive previews and verifications first, then ingests, then
// scheduled re-ingests.
const (
	QueueInteractive = "interactive"
	QueueIngest      = "ingest"
	QueueScheduled   = "scheduled"
)

// Default task options. Every constructor applies them first; options passed
// by the caller override them.
const (
	// PreviewTimeout bounds a preview; it reads only object heads.
	PreviewTimeout = 2 * time.Minute
	// PreviewMaxRetry is small: a user is waiting.
	PreviewMaxRetry = 2
	// PreviewRetention keeps preview results for the API to read.
	PreviewRetention = 24 * time.Hour
	// IngestTimeout bounds one ingest run.
	IngestTimeout = 12 * time.Hour
	// IngestMaxRetry retries transient failures (throttling, 5xx, network).
	// Objects already committed are skipped on retry (the ledger).
	IngestMaxRetry = 10
	// IngestRetention keeps ingest results for a week.
	IngestRetention = 7 * 24 * time.Hour
)

// Source says which objects a job reads.
type Source struct {
	// Bucket is the S3 bucket name.
	Bucket string `json:"bucket"`
	// Prefix limits the listing to keys that start with it.
	Prefix string `json:"prefix,omitempty"`
	// Glob filters keys with shell-style patterns ('*' within a path
	// segment, '**' across segments, '?', '[...]', '{a,b}'), matched
	// against the whole key.
	Glob string `json:"glob,omitempty"`
	// Keys lists objects explicitly instead of listing.
	Keys []string `json:"keys,omitempty"`
	// VersionID pins the version of the single object in Keys.
	VersionID string `json:"version_id,omitempty"`
}

// MaxKeys is the most explicit keys a Source may list.
const MaxKeys = 1000

// MaxFieldBytes bounds every free-text payload string (an S3 key is at
// most 1024 bytes; so are a prefix, a glob, a version ID and a column name
// here).
const MaxFieldBytes = 1024

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the source; errors name the field.
func (s Source) Validate() error {
	if s.Bucket == "" {
		return fieldErr("source.bucket", "is required")
	}
	if !bucketRE.MatchString(s.Bucket) || strings.Contains(s.Bucket, "..") {
		return fieldErr("source.bucket", fmt.Sprintf("%q is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')", s.Bucket))
	}
	for _, f := range []struct{ name, v string }{{"source.prefix", s.Prefix}, {"source.glob", s.Glob}, {"source.version_id", s.VersionID}} {
		if len(f.v) > MaxFieldBytes {
			return fieldErr(f.name, fmt.Sprintf("is %d bytes long, at most %d allowed", len(f.v), MaxFieldBytes))
		}
	}
	if len(s.Keys) > MaxKeys {
		return fieldErr("source.keys", fmt.Sprintf("lists %d keys, at most %d are allowed (use a prefix or glob)", len(s.Keys), MaxKeys))
	}
	if len(s.Keys) > 0 && (s.Prefix != "" || s.Glob != "") {
		return fieldErr("source.keys", "cannot be combined with source.prefix or source.glob")
	}
	for i, k := range s.Keys {
		if k == "" {
			return fieldErr(fmt.Sprintf("source.keys[%d]", i), "is empty")
		}
		if len(k) > MaxFieldBytes {
			return fieldErr(fmt.Sprintf("source.keys[%d]", i), fmt.Sprintf("is %d bytes long, at most %d allowed (S3 keys are at most 1024 bytes)", len(k), MaxFieldBytes))
		}
	}
	if s.VersionID != "" && len(s.Keys) != 1 {
		return fieldErr("source.version_id", "needs exactly one key in source.keys")
	}
	if s.Glob != "" {
		if _, err := path.Match(strings.ReplaceAll(s.Glob, "**", "*"), ""); err != nil {
			return fieldErr("source.glob", fmt.Sprintf("%q is not a valid pattern: %v", s.Glob, err))
		}
	}
	return nil
}

// String renders the source as an s3:// URL for logs and messages.
func (s Source) String() string {
	switch {
	case len(s.Keys) == 1:
		return "s3://" + s.Bucket + "/" + s.Keys[0]
	case len(s.Keys) > 1:
		return fmt.Sprintf("s3://%s/{%d keys}", s.Bucket, len(s.Keys))
	case s.Glob != "":
		return "s3://" + s.Bucket + "/" + s.Prefix + " glob " + s.Glob
	}
	return "s3://" + s.Bucket + "/" + s.Prefix
}

// ErrorBudget bounds how many bad rows an ingest tolerates. Rows within the
// budget are rejected and recorded (the first ones in the result, all of
// them beside the dataset); exceeding it fails the object (per-object
// limits) or the job (per-job limits). A zero limit is not set; a budget with
// no limit set (the zero value) tolerates no bad row.
type ErrorBudget struct {
	// ObjectMaxRows is the most rejected rows per object.
	ObjectMaxRows int64 `json:"object_max_rows,omitempty"`
	// ObjectMaxFraction is the most rejected rows per object as a fraction
	// of the rows read so far (checked once at least 100 rows were read, and
	// at the end of the object).
	ObjectMaxFraction float64 `json:"object_max_fraction,omitempty"`
	// JobMaxRows is the most rejected rows across the job.
	JobMaxRows int64 `json:"job_max_rows,omitempty"`
	// JobMaxFraction is the most rejected rows across the job as a fraction
	// of the rows read.
	JobMaxFraction float64 `json:"job_max_fraction,omitempty"`
}

// Validate checks the budget; errors name the field.
func (b ErrorBudget) Validate() error {
	switch {
	case b.ObjectMaxRows < 0:
		return fieldErr("error_budget.object_max_rows", "must not be negative")
	case b.JobMaxRows < 0:
		return fieldErr("error_budget.job_max_rows", "must not be negative")
	case b.ObjectMaxFraction < 0 || b.ObjectMaxFraction > 1:
		return fieldErr("error_budget.object_max_fraction", "must be between 0 and 1")
	case b.JobMaxFraction < 0 || b.JobMaxFraction > 1:
		return fieldErr("error_budget.job_max_fraction", "must be between 0 and 1")
	}
	return nil
}

// PreviewPayload asks for a parse preview.
type PreviewPayload struct {
	// WorkspaceID owns the job; credentials are resolved within it only.
	WorkspaceID string `json:"workspace_id"`
	// CredentialID selects a stored credential instance; empty uses the
	// workspace's AWS integration.
	CredentialID string `json:"credential_id,omitempty"`
	// Source selects the objects.
	Source Source `json:"source"`
	// Parse holds format hints (format, compression, CSV dialect...).
	Parse parsers.Options `json:"parse,omitzero"`
	// Rows is how many rows to return (default parsers.DefaultPreviewRows).
	Rows int `json:"rows,omitempty"`
}

// Validate checks the payload; errors name the field.
func (p *PreviewPayload) Validate() error {
	if err := validateWorkspace(p.WorkspaceID, p.CredentialID); err != nil {
		return err
	}
	if p.Rows < 0 || p.Rows > 10000 {
		return fieldErr("rows", "must be between 0 and 10000")
	}
	if err := validateParse(p.Parse); err != nil {
		return err
	}
	return p.Source.Validate()
}

// IngestPayload asks for an ingest into a dataset.
type IngestPayload struct {
	// WorkspaceID owns the job; credentials are resolved within it only.
	WorkspaceID string `json:"workspace_id"`
	// CredentialID selects a stored credential instance; empty uses the
	// workspace's AWS integration.
	CredentialID string `json:"credential_id,omitempty"`
	// Source selects the objects.
	Source Source `json:"source"`
	// Parse holds format hints.
	Parse parsers.Options `json:"parse,omitzero"`
	// Dataset names the target dataset within the sink.
	Dataset string `json:"dataset"`
	// ErrorBudget bounds rejected rows (zero: none tolerated).
	ErrorBudget ErrorBudget `json:"error_budget,omitzero"`
	// Concurrency is how many objects are read at once (default 4, max 64).
	Concurrency int `json:"concurrency,omitempty"`
	// ScheduleID is set when a schedule enqueued the job.
	ScheduleID string `json:"schedule_id,omitempty"`
	// Contract is what the job asks of its dataset (pinned schema or
	// hints, evolution mode, modified-object policy, lineage), stored on
	// the dataset when the job creates it.
	Contract Contract `json:"contract,omitzero"`
}

// Validate checks the payload; errors name the field.
func (p *IngestPayload) Validate() error {
	if err := validateWorkspace(p.WorkspaceID, p.CredentialID); err != nil {
		return err
	}
	if err := identErr("dataset", ident.Dataset(p.Dataset)); err != nil {
		return err
	}
	if p.Concurrency < 0 || p.Concurrency > 64 {
		return fieldErr("concurrency", "must be between 0 and 64")
	}
	if err := p.ErrorBudget.Validate(); err != nil {
		return err
	}
	if err := validateParse(p.Parse); err != nil {
		return err
	}
	if err := p.Contract.Validate(); err != nil {
		return err
	}
	return p.Source.Validate()
}

// VerifyPayload asks for a step-by-step check of a workspace's integration
// against one bucket and prefix.
type VerifyPayload struct {
	// WorkspaceID owns the integration to verify.
	WorkspaceID string `json:"workspace_id"`
	// Bucket and Prefix are where the checks list and read.
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix,omitempty"`
}

// Validate checks the payload; errors name the field.
func (p *VerifyPayload) Validate() error {
	if err := validateWorkspace(p.WorkspaceID, ""); err != nil {
		return err
	}
	return Source{Bucket: p.Bucket, Prefix: p.Prefix}.Validate()
}

// validateWorkspace applies the identifier rules credstore also applies
// (package ident), so a payload that validates names IDs the worker can
// resolve.
func validateWorkspace(ws, cred string) error {
	if err := identErr("workspace_id", ident.Workspace(ws)); err != nil {
		return err
	}
	if cred != "" {
		return identErr("credential_id", ident.CredentialID(cred))
	}
	return nil
}

// identErr renames an identifier error to the payload field it came from.
func identErr(field string, err error) error {
	var ie *ident.Error
	if errors.As(err, &ie) {
		return fieldErr(field, ie.Detail())
	}
	return err
}

func validateParse(o parsers.Options) error {
	switch o.Format {
	case parsers.FormatAuto, parsers.FormatCSV, parsers.FormatJSON, parsers.FormatParquet:
	default:
		return fieldErr("parse.format", fmt.Sprintf("%q is not one of csv, json, parquet (or empty to sniff)", o.Format))
	}
	switch o.Compression {
	case parsers.CompressionAuto, parsers.CompressionNone, parsers.CompressionGzip, parsers.CompressionZstd, parsers.CompressionBzip2:
	default:
		return fieldErr("parse.compression", fmt.Sprintf("%q is not one of none, gzip, zstd, bzip2 (or empty to sniff)", o.Compression))
	}
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"parse.sample_rows", o.SampleRows, parsers.MaxSampleRows},
		{"parse.sample_bytes", o.SampleBytes, parsers.MaxSampleBytes},
		{"parse.batch_rows", o.BatchRows, parsers.MaxBatchRows},
		{"parse.max_line_bytes", o.MaxLineBytes, parsers.MaxMaxLineBytes},
		{"parse.max_columns", o.MaxColumns, parsers.MaxMaxColumns},
	} {
		if f.v < 0 || f.v > f.limit {
			return fieldErr(f.name, fmt.Sprintf("%d is not between 0 (the default) and %d", f.v, f.limit))
		}
	}
	if o.MaxDecompressedBytes < 0 {
		return fieldErr("parse.max_decompressed_bytes", "must not be negative")
	}
	return nil
}

// PayloadError is a task payload that cannot be decoded or does not
// validate: Field names the payload field, Reason what is wrong with it.
// It is permanent (the same payload never becomes valid) and matches
// ErrInvalidPayload with errors.Is.
type PayloadError struct {
	// Field is the dotted JSON path of the field, e.g. "source.bucket"; ""
	// when the payload as a whole is not valid JSON.
	Field string
	// Reason says what is wrong and what is expected.
	Reason string
	// Err is the decoding error, if any.
	Err error
}

// FieldError is the former name of PayloadError.
//
// Deprecated: use PayloadError.
type FieldError = PayloadError

// Error is "field: reason", or the reason alone when no field is known.
func (e *PayloadError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalidPayload.
func (e *PayloadError) Is(target error) bool { return target == ErrInvalidPayload }

// Unwrap returns the decoding error, if any.
func (e *PayloadError) Unwrap() error { return e.Err }

// Permanent reports true: retrying the same payload cannot succeed.
func (e *PayloadError) Permanent() bool { return true }

func fieldErr(field, reason string) error { return &PayloadError{Field: field, Reason: reason} }

// ErrInvalidPayload matches every payload decoding or validation failure
// (each is a *PayloadError).
// It is itself classified permanent, so an error that wraps only the
// sentinel is archived too.
var ErrInvalidPayload error = permanentSentinel("invalid payload")

// permanentSentinel is a sentinel error whose class is permanent.
type permanentSentinel string

// Error returns the message.
func (e permanentSentinel) Error() string { return string(e) }

// Permanent reports true: the same payload is invalid again.
func (e permanentSentinel) Permanent() bool { return true }

// Decode unmarshals and validates a task payload. Errors are *PayloadError
// (wrapped with the "invalid payload" prefix) and match ErrInvalidPayload.
func Decode[P interface{ Validate() error }](b []byte, p P) error {
	if err := json.Unmarshal(b, p); err != nil {
		pe := &PayloadError{Reason: err.Error(), Err: err}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			pe.Field = te.Field
			pe.Reason = fmt.Sprintf("cannot hold JSON %s (want %s)", te.Value, te.Type)
		}
		return fmt.Errorf("%w: %w", ErrInvalidPayload, pe)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return nil
}

// NewPreviewTask validates p and returns a preview task with the default
// options (queue interactive, PreviewTimeout, PreviewMaxRetry,
// PreviewRetention); opts override them.
func NewPreviewTask(p PreviewPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePreview, &p, []asynq.Option{
		asynq.Queue(QueueInteractive), asynq.Timeout(PreviewTimeout),
		asynq.MaxRetry(PreviewMaxRetry), asynq.Retention(PreviewRetention),
	}, opts)
}

// NewIngestTask validates p and returns an ingest task with the default
// options (queue ingest, or scheduled when p.ScheduleID is set;
// IngestTimeout, IngestMaxRetry, IngestRetention); opts override them.
func NewIngestTask(p IngestPayload, opts ...asynq.Option) (*asynq.Task, error) {
	q := QueueIngest
	if p.ScheduleID != "" {
		q = QueueScheduled
	}
	return newTask(TypeIngest, &p, []asynq.Option{
		asynq.Queue(q), asynq.Timeout(IngestTimeout),
		asynq.MaxRetry(IngestMaxRetry), asynq.Retention(IngestRetention),
	}, opts)
}

// NewVerifyTask validates p and returns a verify task (queue interactive,
// no retry: a verification reports what it finds).
func NewVerifyTask(p VerifyPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeVerify, &p, []asynq.Option{
		asynq.Queue(QueueInteractive), asynq.Timeout(PreviewTimeout),
		asynq.MaxRetry(0), asynq.Retention(PreviewRetention),
	}, opts)
}

// NewDryRunTask returns a dry run of the ingest p on the interactive queue
// (a preview's timeout and retention, no retries).
func NewDryRunTask(p IngestPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeDryRun, &p, []asynq.Option{
		asynq.Queue(QueueInteractive), asynq.Timeout(PreviewTimeout),
		asynq.MaxRetry(0), asynq.Retention(PreviewRetention),
	}, opts)
}

func newTask(typ string, p interface{ Validate() error }, defaults, opts []asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", typ, ErrInvalidPayload, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%s: encode payload: %w", typ, err)
	}
	return asynq.NewTask(typ, b, append(defaults, opts...)...), nil
}
