package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Listing summarises the objects a source matched.
type Listing struct {
	// Objects is how many objects matched.
	Objects int64 `json:"objects"`
	// Bytes is their total size.
	Bytes int64 `json:"bytes"`
	// FirstKeys are the first few matching keys in listing order.
	FirstKeys []string `json:"first_keys"`
	// Truncated is set when the preview stopped listing early.
	Truncated bool `json:"truncated,omitempty"`
	// Formats counts the listed objects by the format their key names
	// (csv, json, parquet, or "unknown"; compression extensions stripped).
	Formats map[string]int64 `json:"formats,omitempty"`
}

// PreviewResult is the result of a TypePreview task.
type PreviewResult struct {
	// Listing summarises the matched objects.
	Listing Listing `json:"listing"`
	// Object is the object that was sampled (s3://bucket/key).
	Object string `json:"object"`
	// PreviewResult holds compression, format, dialect, schema with
	// reasons, rows and warnings.
	*parsers.PreviewResult
}

// ObjectError records one object that failed.
type ObjectError struct {
	Object string `json:"object"`
	Error  string `json:"error"`
}

// RejectSample is one rejected row as reported in a result.
type RejectSample struct {
	Object string `json:"object"`
	Line   int64  `json:"line,omitempty"`
	Row    int64  `json:"row,omitempty"`
	Column string `json:"column,omitempty"`
	Value  string `json:"value,omitempty"`
	Error  string `json:"error"`
}

// MaxRejectSamples is how many rejected rows a result lists; all of them are
// written beside the dataset by the sink.
const MaxRejectSamples = 20

// IngestResult is the result (and, while running, the progress) of a
// TypeIngest task.
type IngestResult struct {
	// Dataset is the target dataset.
	Dataset string `json:"dataset"`
	// Done is false while the task is running (progress reports).
	Done bool `json:"done"`
	// Objects is how many objects were committed by this run.
	Objects int64 `json:"objects"`
	// Skipped is how many matching objects the ledger already had.
	Skipped int64 `json:"skipped"`
	// SkippedModified is how many matching objects were new versions of
	// keys the dataset already holds, skipped by its modified policy skip.
	SkippedModified int64 `json:"skipped_modified,omitempty"`
	// ModifiedKeys are the first of those objects (s3://bucket/key).
	ModifiedKeys []string `json:"modified_keys,omitempty"`
	// Empty is how many matching objects had no bytes (markers such as
	// _SUCCESS); they are not read.
	Empty int64 `json:"empty,omitempty"`
	// Failed is how many objects failed permanently.
	Failed int64 `json:"failed"`
	// Rows is how many rows were committed.
	Rows int64 `json:"rows"`
	// Bytes is how many object bytes were read.
	Bytes int64 `json:"bytes"`
	// Rejected is how many rows were rejected within the error budget.
	Rejected int64 `json:"rejected"`
	// Duration is the run's wall time.
	Duration Duration `json:"duration"`
	// Rejects are the first rejected rows.
	Rejects []RejectSample `json:"rejects,omitempty"`
	// Errors lists objects that failed.
	Errors []ObjectError `json:"errors,omitempty"`
	// Warnings lists the first parser warnings (columns or keys outside the
	// dataset's schema, type conflicts with the dataset, encoding
	// fallbacks), prefixed with the object.
	Warnings []string `json:"warnings,omitempty"`
	// SchemaChanges lists the changes this run made to the dataset's
	// schema (its creation, columns added or widened), per object.
	SchemaChanges []SchemaChange `json:"schema_changes,omitempty"`
	// Note says what a user should know about a run that loaded nothing,
	// e.g. that every matching object was already loaded.
	Note string `json:"note,omitempty"`

	// Progress inside the run, updated while it reads (every progress
	// interval, about 2 s):

	// ObjectsTotal is how many listed objects this run has to read (final
	// once ListingDone).
	ObjectsTotal int64 `json:"objects_total"`
	// ListingDone reports that the source was listed to its end.
	ListingDone bool `json:"listing_done"`
	// BytesTotal is the size of the objects to read; BytesRead how many
	// of their bytes were fetched so far (also of objects still being
	// read), and BytesPerSecond the rate since the run started.
	BytesTotal     int64   `json:"bytes_total"`
	BytesRead      int64   `json:"bytes_read"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	// RowsRead counts the rows parsed so far, also of objects not yet
	// committed (Rows counts committed ones).
	RowsRead int64 `json:"rows_read"`
	// ETASeconds estimates the time left from the rate, once the listing
	// is done (0 when unknown).
	ETASeconds float64 `json:"eta_seconds,omitempty"`
	// Attempt is the task's attempt (1 the first; 2 and up after a
	// retry: a worker that stopped, a transient failure). A retried run
	// skips what earlier attempts committed.
	Attempt int `json:"attempt,omitempty"`
}

// SchemaChange is one change a run made to its dataset's schema.
type SchemaChange struct {
	// Object is the object whose commit made the change.
	Object string `json:"object"`
	// Version is the dataset's schema version after it.
	Version int64 `json:"version"`
	// Created reports that the commit created the dataset.
	Created bool `json:"created,omitempty"`
	// Added are the columns added (all of them for a creation).
	Added []ColumnChange `json:"added,omitempty"`
	// Widened are the columns whose type widened.
	Widened []ColumnChange `json:"widened,omitempty"`
	// Reason says why.
	Reason string `json:"reason"`
}

// ColumnChange is a column a schema change added or widened.
type ColumnChange struct {
	Name string `json:"name"`
	// Type is the column's type after the change; From its type before
	// (widenings only).
	Type     schema.Type `json:"type"`
	From     string      `json:"from,omitempty"`
	Nullable bool        `json:"nullable"`
	// Reason says why the column has its type.
	Reason string `json:"reason,omitempty"`
}

// String summarises the result on one line.
func (r *IngestResult) String() string {
	s := fmt.Sprintf("dataset %s: %d objects (%d skipped, %d failed), %d rows, %d bytes, %d rejected in %s",
		r.Dataset, r.Objects, r.Skipped, r.Failed, r.Rows, r.Bytes, r.Rejected, time.Duration(r.Duration))
	if r.SkippedModified > 0 {
		s += fmt.Sprintf("; %d modified objects skipped", r.SkippedModified)
	}
	if len(r.SchemaChanges) > 0 {
		s += fmt.Sprintf("; %d schema changes", len(r.SchemaChanges))
	}
	if r.Note != "" {
		s += "; " + r.Note
	}
	if r.Attempt > 1 {
		s += fmt.Sprintf("; attempt %d (earlier attempts were interrupted or failed transiently; their committed objects were skipped)", r.Attempt)
	}
	return s
}

// Check is one step of a verification.
type Check struct {
	// Step names the check, e.g. "assume-role".
	Step string `json:"step"`
	// Status is pass, fail, warn or skip.
	Status CheckStatus `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to change when Status is fail or warn, in words for
	// the workspace's user (no CLI commands).
	Fix string `json:"fix,omitempty"`
	// Action names the fix as a code a client can turn into its own
	// button or command (ingestctl prints the command); empty when the fix
	// is only words.
	Action CheckAction `json:"action,omitempty"`
}

// CheckAction is the machine-readable form of a Check's fix.
type CheckAction string

// Fix actions of verification steps.
const (
	// ActionCreateIntegration: the workspace has no AWS integration.
	ActionCreateIntegration CheckAction = "create_integration"
	// ActionRecreateIntegration: the stored integration is unusable;
	// remove it and create it again.
	ActionRecreateIntegration CheckAction = "recreate_integration"
	// ActionSetRole: the integration needs (another) role ARN.
	ActionSetRole CheckAction = "set_role"
	// ActionUpdateTrustPolicy: the role's trust policy must change; the
	// integration's trust policy document shows what it must say.
	ActionUpdateTrustPolicy CheckAction = "update_trust_policy"
	// ActionVerifyAgain: the failure looks transient.
	ActionVerifyAgain CheckAction = "verify_again"
)

// CheckStatus is the outcome of one verification step.
type CheckStatus string

// Check outcomes.
const (
	CheckPass CheckStatus = "pass"
	CheckFail CheckStatus = "fail"
	CheckWarn CheckStatus = "warn"
	CheckSkip CheckStatus = "skip"
)

// VerifyReport is the result of a TypeVerify task.
type VerifyReport struct {
	WorkspaceID string  `json:"workspace_id"`
	RoleARN     string  `json:"role_arn"`
	Bucket      string  `json:"bucket"`
	Prefix      string  `json:"prefix,omitempty"`
	Checks      []Check `json:"checks"`
}

// OK reports whether no check failed.
func (r *VerifyReport) OK() bool {
	for _, c := range r.Checks {
		if c.Status == CheckFail {
			return false
		}
	}
	return true
}

// Duration is a time.Duration that marshals as a string ("1.5s") and
// unmarshals from a string or nanoseconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DryRunAction is what an ingest would do with one object.
type DryRunAction string

// Dry-run actions.
const (
	// DryRunRead: the object would be read and loaded.
	DryRunRead DryRunAction = "read"
	// DryRunReplace: the object is a new version of a loaded key and would
	// replace the earlier version's rows (modified policy replace).
	DryRunReplace DryRunAction = "replace"
	// DryRunAppend: a new version of a loaded key, loaded beside it
	// (modified policy append).
	DryRunAppend DryRunAction = "append"
	// DryRunLoaded: this version is already in the dataset: skipped.
	DryRunLoaded DryRunAction = "skip-loaded"
	// DryRunModifiedSkip: a new version of a loaded key, skipped by the
	// modified policy skip.
	DryRunModifiedSkip DryRunAction = "skip-modified"
	// DryRunEmpty: an empty object (a marker such as _SUCCESS): ignored.
	DryRunEmpty DryRunAction = "ignore-empty"
)

// DryRunObject is one listed object and what the ingest would do with it.
type DryRunObject struct {
	Key    string       `json:"key"`
	Size   int64        `json:"size"`
	ETag   string       `json:"etag,omitempty"`
	Action DryRunAction `json:"action"`
}

// MaxDryRunObjects bounds the objects a dry run lists one by one (the
// counts cover all of them).
const MaxDryRunObjects = 1000

// DryRunResult is the result of a TypeDryRun task.
type DryRunResult struct {
	Dataset string `json:"dataset"`
	// DatasetExists reports whether the dataset has a record yet.
	DatasetExists bool `json:"dataset_exists"`
	// Counts are the objects per action (all of them).
	Counts map[DryRunAction]int64 `json:"counts"`
	// Bytes is the size of the objects that would be read.
	Bytes int64 `json:"bytes"`
	// Objects are the first MaxDryRunObjects objects in listing order.
	Objects []DryRunObject `json:"objects"`
	// Truncated reports that Objects stops short of the listing.
	Truncated bool `json:"truncated,omitempty"`
}
