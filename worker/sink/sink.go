// Package sink writes typed batches of rows into datasets, exactly once per
// object version.
//
// A Sink keeps a ledger of the object versions it has committed. For each
// object the worker asks Seen; if the ledger does not have it, it calls
// Begin, hands the parser's batches to Writer.Write (and bad rows to
// Writer.Reject), and finally calls Writer.Commit, which publishes the rows,
// the rejects and the ledger entry atomically. A Writer that is abandoned
// (a crash, a cancelled task, Abort) leaves nothing visible behind, and a
// second Commit of the same object version (a retried task that raced the
// first one) adds no rows.
//
// Two implementations are provided:
//
//   - FileSink ("file:///abs/path"): one directory per dataset holding one
//     Parquet file per committed object version, the embedded default.
//   - Postgres ("postgres://..."): one table per dataset loaded with binary
//     COPY, and a s3ingest_ledger table.
//
// Datasets belong to workspaces: a Dataset is (workspace, name), and two
// workspaces that use the same dataset name get two datasets with their
// own rows, rejects and ledger entries (FileSink: a directory per
// workspace; Postgres: a PostgreSQL schema per workspace and the workspace
// in the ledger's key).
//
// The package knows rows and datasets, not S3: ObjectRef is only the identity
// of an object version.
package sink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// ObjectRef is the identity of one object version, as listed by the source.
type ObjectRef struct {
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	VersionID    string    `json:"version_id,omitempty"`
	ETag         string    `json:"etag,omitempty"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified,omitzero"`
}

// Version returns the version component of the ledger identity: the ETag,
// which listing and HeadObject both report, so one object version has one
// identity however a job found it (ListObjectsV2 reports no version IDs);
// the version ID only when there is no ETag. The version ID is recorded in
// the ledger beside it.
func (o ObjectRef) Version() string {
	if o.ETag != "" {
		return o.ETag
	}
	return o.VersionID
}

// String renders the object as "s3://bucket/key" with its version.
func (o ObjectRef) String() string {
	return "s3://" + o.Bucket + "/" + o.Key + " (version " + o.Version() + ", " + strconv.FormatInt(o.Size, 10) + " bytes)"
}

// validate checks the fields that make up the ledger identity.
func (o ObjectRef) validate() error {
	switch {
	case o.Bucket == "":
		return fmt.Errorf("%w: object bucket is empty", ErrInvalidObject)
	case o.Key == "":
		return fmt.Errorf("%w: object key is empty (bucket %q)", ErrInvalidObject, o.Bucket)
	case o.Version() == "":
		return fmt.Errorf("%w: object s3://%s/%s has neither a version ID nor an ETag", ErrInvalidObject, o.Bucket, o.Key)
	case o.Size < 0:
		return fmt.Errorf("%w: object s3://%s/%s has a negative size %d", ErrInvalidObject, o.Bucket, o.Key, o.Size)
	}
	return nil
}

// ledgerHash returns the hex digest naming an object version in a dataset:
// SHA-256 over (workspace, dataset, bucket, key, version, size),
// NUL-separated, truncated to 128 bits.
func ledgerHash(ds Dataset, o ObjectRef) string {
	h := sha256.New()
	for _, s := range []string{ds.Workspace, ds.Name, o.Bucket, o.Key, o.Version(), strconv.FormatInt(o.Size, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Reject is a row that could not be converted, as reported by the parser.
type Reject struct {
	// Line is the 1-based line (CSV/JSON) or 0 when unknown.
	Line int64 `json:"line,omitempty"`
	// Row is the 0-based row index (Parquet) or 0 when unknown.
	Row int64 `json:"row,omitempty"`
	// Column is the column the problem is about, if any.
	Column string `json:"column,omitempty"`
	// Value is the raw value (shortened by the parser).
	Value string `json:"value,omitempty"`
	// Error says what was wrong.
	Error string `json:"error"`
}

// Stats summarise one object's ingest; Commit records them in the ledger.
type Stats struct {
	// Rows is informational: the ledger records the rows the Writer
	// actually received.
	Rows int64 `json:"rows"`
	// Rejected is the number of rejected rows (it may exceed the number of
	// Reject calls if the worker stops recording rejects).
	Rejected int64 `json:"rejected"`
	// Bytes is the number of object bytes read.
	Bytes int64 `json:"bytes"`
}

// Dataset names a dataset: the workspace that owns it and its name within
// that workspace. Datasets of different workspaces never share rows,
// rejects or ledger entries, whatever their names.
type Dataset struct {
	// Workspace is the ID of the owning workspace (the job's workspace);
	// see ValidateWorkspace.
	Workspace string
	// Name is the dataset's name within the workspace; see
	// ValidateDataset.
	Name string
}

// String renders the dataset as "workspace/name" (for messages and logs).
func (d Dataset) String() string { return d.Workspace + "/" + d.Name }

// Validate checks both fields (ValidateWorkspace, ValidateDataset); the
// error wraps ErrInvalidDataset and names the field that is wrong.
func (d Dataset) Validate() error {
	if err := ValidateWorkspace(d.Workspace); err != nil {
		return err
	}
	return ValidateDataset(d.Name)
}

// Sink is a set of datasets with a ledger of committed object versions.
// Implementations are safe for concurrent use.
type Sink interface {
	// Catalog reads the datasets' records.
	Catalog
	// Lookup reports what the ledger of ds has of obj's key: this version,
	// and other versions committed earlier.
	Lookup(ctx context.Context, ds Dataset, obj ObjectRef) (Lookup, error)
	// Capabilities says what the sink can change in an existing dataset.
	Capabilities() Capabilities
	// Begin starts writing obj into ds as plan says: batches have the
	// schema ColumnsSchema(plan.Columns); Commit creates the dataset or
	// applies the plan's schema change with the rows.
	Begin(ctx context.Context, ds Dataset, obj ObjectRef, plan Plan) (Writer, error)
	// Close releases the sink's resources. Writers must be finished first.
	Close() error
}

// Writer writes one object version into one dataset. It is not safe for
// concurrent use. The usual shape is:
//
//	w, err := s.Begin(ctx, ds, obj, plan)
//	if err != nil { ... }
//	defer w.Abort(ctx) // no-op after a successful Commit
//	for ... { w.Write(ctx, batch) }
//	return w.Commit(ctx, stats)
type Writer interface {
	// Write appends the rows of b. The batch is validated first (its schema
	// must match the one given to Begin, non-nullable columns must hold no
	// nulls, strings must be UTF-8, JSON must be valid); on a *ValueError
	// nothing of b was written and the Writer remains usable. b may be
	// reused by the caller as soon as Write returns.
	Write(ctx context.Context, b *schema.Batch) error
	// Reject records a rejected row; rejects are published with the rows.
	Reject(ctx context.Context, r Reject) error
	// Commit publishes the rows, the rejects and the ledger entry
	// atomically. If the same object version was committed in the meantime
	// (a concurrent retry), or, under the modified policy replace, a newer
	// version of the key is already in the dataset, Commit discards this
	// Writer's rows and returns nil, so there are never duplicate or stale
	// rows; Discarded then reports true.
	Commit(ctx context.Context, st Stats) error
	// Abort discards everything written; nothing is left behind. It is a
	// no-op after Commit or a previous Abort.
	Abort(ctx context.Context) error
}

// Discarded reports whether w's successful Commit discarded its rows
// because the same object version had been committed in the meantime (a
// concurrent retry won) or a newer version of the key was already loaded
// (modified policy replace), so the dataset received nothing from w. Writers
// that do not implement interface{ Discarded() bool } never discard.
func Discarded(w Writer) bool {
	d, ok := w.(interface{ Discarded() bool })
	return ok && d.Discarded()
}

// Sentinel errors; test with errors.Is. All but ErrClosed are permanent
// (they have Permanent() true): retrying the same input gives the same
// error.
var (
	// ErrInvalidDataset marks a Dataset that is not allowed: its
	// workspace ID or its name (the message says which).
	ErrInvalidDataset error = &sentinel{"invalid dataset", true}
	// ErrInvalidObject marks an ObjectRef without a usable identity.
	ErrInvalidObject error = &sentinel{"invalid object reference", true}
	// ErrInvalidSchema marks a schema the sink cannot store (duplicate or
	// empty column names, names too long, unknown types).
	ErrInvalidSchema error = &sentinel{"invalid schema", true}
	// ErrIncompatibleSchema marks a schema that conflicts with the
	// dataset's existing columns.
	ErrIncompatibleSchema error = &sentinel{"incompatible schema", true}
	// ErrInvalidValue marks a value the sink cannot store (see ValueError).
	ErrInvalidValue error = &sentinel{"invalid value", true}
	// ErrInvalidURL marks a sink URL that Open does not understand.
	ErrInvalidURL error = &sentinel{"invalid sink URL", true}
	// ErrClosed marks use of a Writer after Commit or Abort (a bug of the
	// caller; not classified).
	ErrClosed = errors.New("writer already committed or aborted")
)

// sentinel is the type of the package's classified sentinel errors.
type sentinel struct {
	msg       string
	permanent bool
}

// Error returns the message.
func (e *sentinel) Error() string { return e.msg }

// Permanent reports whether retrying the same input cannot succeed.
func (e *sentinel) Permanent() bool { return e.permanent }

// ValueError is a value in a batch that the sink cannot store. It wraps
// ErrInvalidValue.
type ValueError struct {
	// Column is the column's name.
	Column string
	// Line is the row's position in the source object (Batch.Lines).
	Line int64
	// Row is the row's index in the batch.
	Row int
	// Reason says what is wrong with the value.
	Reason string
}

// Error names the column, the line and the reason.
func (e *ValueError) Error() string {
	return fmt.Sprintf("invalid value: column %q, line %d: %s", e.Column, e.Line, e.Reason)
}

// Unwrap returns ErrInvalidValue.
func (e *ValueError) Unwrap() error { return ErrInvalidValue }

// Permanent reports true: the same value is refused again.
func (e *ValueError) Permanent() bool { return true }

// Fix says what to change.
func (e *ValueError) Fix() string { return "fix the value at the source" }

// validateSchema checks what both sinks need of a schema: non-empty, unique
// column names of known types.
func validateSchema(s *schema.Schema) error {
	if s == nil {
		return fmt.Errorf("%w: schema is nil", ErrInvalidSchema)
	}
	seen := make(map[string]struct{}, len(s.Fields))
	for i, f := range s.Fields {
		if f.Name == "" {
			return fmt.Errorf("%w: column %d has an empty name", ErrInvalidSchema, i+1)
		}
		if !utf8.ValidString(f.Name) || strings.IndexByte(f.Name, 0) >= 0 {
			return fmt.Errorf("%w: column %d name %q is not valid UTF-8 text", ErrInvalidSchema, i+1, f.Name)
		}
		if _, dup := seen[f.Name]; dup {
			return fmt.Errorf("%w: column %q appears twice", ErrInvalidSchema, f.Name)
		}
		seen[f.Name] = struct{}{}
		if f.Type > schema.JSON {
			return fmt.Errorf("%w: column %q has unknown type %s", ErrInvalidSchema, f.Name, f.Type)
		}
	}
	return nil
}

// Open opens the sink named by a URL:
//
//	file:///abs/path                 FileSink rooted at /abs/path (created if missing)
//	postgres://user@host/db?...      PostgreSQL (also postgresql://)
func Open(ctx context.Context, rawURL string) (Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidURL, redactURL(rawURL), err)
	}
	switch u.Scheme {
	case "file":
		dir := u.Path
		switch {
		case u.Opaque != "": // file:relative/dir
			dir = u.Opaque
		case u.Host == "." || u.Host == "..": // file://./data, relative to the working directory
			dir = u.Host + u.Path
		case u.Host != "" && u.Host != "localhost":
			return nil, fmt.Errorf("%w %q: a file URL names a local directory: file:///var/lib/s3ingest, or file://./data relative to the working directory", ErrInvalidURL, rawURL)
		}
		if dir == "" {
			return nil, fmt.Errorf("%w %q: no directory, like file:///var/lib/s3ingest", ErrInvalidURL, rawURL)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidURL, rawURL, err)
		}
		return OpenFile(abs, FileOptions{})
	case "postgres", "postgresql":
		return OpenPostgres(ctx, rawURL, PostgresOptions{})
	default:
		return nil, fmt.Errorf("%w %q: want file:///abs/path or postgres://...", ErrInvalidURL, redactURL(rawURL))
	}
}

// redactURL hides a password in a URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.Index(raw, "@"); i >= 0 {
			return "(unparsable URL with credentials)"
		}
		return raw
	}
	return u.Redacted()
}

func shorten(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "..."
}
