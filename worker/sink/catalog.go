package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Evolution says what an object's columns that the dataset does not have
// do to the dataset.
type Evolution string

// Evolution modes.
const (
	// EvolutionAdd (the default) adds new columns, nullable, in the commit
	// of the object that brings them.
	EvolutionAdd Evolution = "add"
	// EvolutionRescue keeps the schema: values of unknown columns, and
	// values that do not fit their column's type, go into the row's
	// RescueColumn as a JSON object (nothing rejected, nothing lost).
	EvolutionRescue Evolution = "rescue"
	// EvolutionFail fails an object that brings new columns, naming them.
	EvolutionFail Evolution = "fail"
)

// Modified says what a new version of an object already loaded (same key,
// new ETag or version) does.
type Modified string

// Modified-object policies.
const (
	// ModifiedReplace (the default) removes the rows of the key's earlier
	// versions in the commit that adds the new version's rows.
	ModifiedReplace Modified = "replace"
	// ModifiedAppend keeps the earlier versions' rows beside the new ones.
	ModifiedAppend Modified = "append"
	// ModifiedSkip loads a key once: later versions are skipped.
	ModifiedSkip Modified = "skip"
)

// Reserved column names.
const (
	// RescueColumn holds, in rescue mode, a JSON object of the row's values
	// that have no column or do not fit their column's type, keyed by their
	// source column name.
	RescueColumn = "_rescued"
	// Lineage columns, present when Settings.Lineage is set.
	LineageKey      = "_source_key"     // string: s3://bucket/key
	LineageVersion  = "_source_version" // string: version ID, else ETag
	LineageIngested = "_ingested_at"    // timestamp of the commit's start
	LineageLine     = "_source_line"    // int64: line (CSV/JSON) or row (Parquet) number
)

// Settings are a dataset's policies, set when it is created.
type Settings struct {
	Evolution Evolution `json:"evolution"`
	Modified  Modified  `json:"modified"`
	// AllowWidening lets a column's type widen (int64 → float64 → string,
	// date → timestamp) where the sink can change it in place.
	AllowWidening bool `json:"allow_widening,omitempty"`
	// Lineage adds the lineage columns.
	Lineage bool `json:"lineage,omitempty"`
	// Compression is the Parquet codec of the dataset's data files (""
	// is the sink's default; the PostgreSQL sink records it and has no
	// use for it). It is a physical setting, not part of the contract: a
	// job asking for another codec writes its files with that one and
	// its commit records it as the dataset's (files written before keep
	// theirs: readers read each column chunk with its own codec).
	Compression Codec `json:"compression,omitempty"`
}

// WithDefaults fills empty fields with the defaults (add, replace).
func (s Settings) WithDefaults() Settings {
	if s.Evolution == "" {
		s.Evolution = EvolutionAdd
	}
	if s.Modified == "" {
		s.Modified = ModifiedReplace
	}
	return s
}

// Validate checks the enums; the error names the field.
func (s Settings) Validate() error {
	switch s.Evolution {
	case "", EvolutionAdd, EvolutionRescue, EvolutionFail:
	default:
		return fmt.Errorf("%w: evolution %q: want add, rescue or fail", ErrInvalidSchema, s.Evolution)
	}
	switch s.Modified {
	case "", ModifiedReplace, ModifiedAppend, ModifiedSkip:
	default:
		return fmt.Errorf("%w: modified %q: want replace, append or skip", ErrInvalidSchema, s.Modified)
	}
	return s.Compression.Validate()
}

// ForJob returns the settings a job asking for job writes with into a
// dataset whose settings are s: s's, but the job's physical settings
// (Compression) where the job sets them. The contract settings must agree
// first (SettingsDiff).
func (s Settings) ForJob(job Settings) Settings {
	s = s.WithDefaults()
	if job.Compression != CodecDefault {
		s.Compression = job.Compression
	}
	return s
}

// Column is one column of a dataset.
type Column struct {
	// Name is the column's name in the source data (and in batches).
	Name string `json:"name"`
	// Stored is the sink's name for it when that differs (a PostgreSQL
	// system column such as xmin, a name over 63 bytes); "" means Name.
	Stored string `json:"stored,omitempty"`
	// Type is the column's one type in every part of the dataset.
	Type schema.Type `json:"type"`
	// Nullable is false only for columns a user pinned NOT NULL.
	Nullable bool `json:"nullable"`
	// Pinned marks a type set by the user (schema or schema hint): never
	// widened.
	Pinned bool `json:"pinned,omitempty"`
	// AddedBy is the object version whose commit added the column
	// ("s3://bucket/key#etag"); empty for pinned and reserved columns.
	AddedBy string `json:"added_by,omitempty"`
	// AddedAt is when that commit happened.
	AddedAt time.Time `json:"added_at"`
	// Reason says why the column has its type.
	Reason string `json:"reason,omitempty"`
}

// StoredName returns the name the sink stores the column under.
func (c Column) StoredName() string {
	if c.Stored != "" {
		return c.Stored
	}
	return c.Name
}

// Widening is a column whose type changed.
type Widening struct {
	Column string      `json:"column"`
	From   schema.Type `json:"from"`
	To     schema.Type `json:"to"`
}

// SchemaChange is one version of a dataset's schema: what the commit that
// made it changed, and why.
type SchemaChange struct {
	// Version is the schema version it made (1: the dataset was created).
	Version int64 `json:"version"`
	// At is the commit's time.
	At time.Time `json:"at"`
	// Object is the object version whose commit made the change.
	Object string `json:"object,omitempty"`
	// Added are the columns added (all columns, for version 1).
	Added []Column `json:"added,omitempty"`
	// Widened are the columns whose type widened.
	Widened []Widening `json:"widened,omitempty"`
	// Reason says why, e.g. "created from s3://b/2024-01.csv" or
	// "new columns in s3://b/2024-06.csv".
	Reason string `json:"reason"`
}

// DatasetInfo is a dataset's record: its schema, history position and
// policies.
type DatasetInfo struct {
	Workspace string `json:"workspace"`
	Name      string `json:"name"`
	// Version is the schema version (number of SchemaChanges).
	Version  int64     `json:"version"`
	Columns  []Column  `json:"columns"`
	Settings Settings  `json:"settings"`
	Created  time.Time `json:"created_at"`
	Updated  time.Time `json:"updated_at"`
	// Objects and Rows count the committed object versions and their rows
	// (after replacements).
	Objects int64 `json:"objects"`
	Rows    int64 `json:"rows"`
}

// Dataset returns the (workspace, name) of the record.
func (d *DatasetInfo) Dataset() Dataset { return Dataset{Workspace: d.Workspace, Name: d.Name} }

// Column returns the column named name, or nil.
func (d *DatasetInfo) Column(name string) *Column {
	for i := range d.Columns {
		if d.Columns[i].Name == name {
			return &d.Columns[i]
		}
	}
	return nil
}

// Schema returns the columns as a batch schema.
func (d *DatasetInfo) Schema() *schema.Schema { return ColumnsSchema(d.Columns) }

// ColumnsSchema returns the batch schema of columns (name, type, nullable,
// reason), in order.
func ColumnsSchema(cols []Column) *schema.Schema {
	s := &schema.Schema{Fields: make([]schema.Field, len(cols))}
	for i, c := range cols {
		s.Fields[i] = schema.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable, Reason: c.Reason}
	}
	return s
}

// RecordedReject is a rejected row as stored beside a dataset.
type RecordedReject struct {
	// Object is the object version the row came from.
	Object ObjectRef `json:"object"`
	Reject
}

// Catalog reads datasets' records: the platform's API and ingestctl list,
// show and audit datasets with it.
type Catalog interface {
	// Dataset returns the record of ds, or an error wrapping
	// ErrDatasetNotFound.
	Dataset(ctx context.Context, ds Dataset) (*DatasetInfo, error)
	// Datasets lists the workspace's datasets by name.
	Datasets(ctx context.Context, workspace string) ([]DatasetInfo, error)
	// History returns the schema versions of ds, oldest first.
	History(ctx context.Context, ds Dataset) ([]SchemaChange, error)
	// Rejects returns up to limit recorded rejected rows of ds (all when
	// limit <= 0), in commit order.
	Rejects(ctx context.Context, ds Dataset, limit int) ([]RecordedReject, error)
}

// Lookup is what a dataset's ledger knows about an object's key.
type Lookup struct {
	// Loaded reports that this very version is committed.
	Loaded bool
	// Earlier lists other committed versions of the same bucket and key.
	Earlier []ObjectRef
}

// Capabilities say what a sink can do to an existing dataset.
type Capabilities struct {
	// AlterColumnType: a column's type can widen in place (PostgreSQL
	// ALTER COLUMN TYPE); a Parquet directory cannot without leaving two
	// types under one name.
	AlterColumnType bool
}

// Plan is what committing one object does to its dataset, as reconciled
// by the worker against the dataset's record.
type Plan struct {
	// Base is the schema version the plan was made against (0: the dataset
	// does not exist yet and the commit creates it).
	Base int64
	// Columns are the dataset's columns after the commit, in order; the
	// Writer's batches have exactly this schema (ColumnsSchema(Columns)).
	Columns []Column
	// Settings are the dataset's policies (stored when it is created).
	Settings Settings
	// Change is the schema change the commit makes (nil: none).
	Change *SchemaChange
	// Replace removes the rows of the object's key's earlier versions in
	// the same commit (Modified replace).
	Replace bool
}

// PlanFor returns the plan of writing batches of schema s into a dataset
// without reconciling first (tests, benchmarks, tools): its columns are
// s's fields, merged into the dataset at commit like any plan.
func PlanFor(s *schema.Schema) Plan {
	p := Plan{Settings: Settings{}.WithDefaults()}
	if s == nil {
		return p
	}
	p.Columns = make([]Column, len(s.Fields))
	for i, f := range s.Fields {
		p.Columns[i] = Column{Name: f.Name, Type: f.Type, Nullable: f.Nullable, Reason: f.Reason}
	}
	return p
}

// ErrDatasetNotFound is returned by Catalog methods for a dataset that
// does not exist (no object was ever committed to it).
var ErrDatasetNotFound error = &sentinel{"dataset not found", true}

// SchemaConflictError reports that a concurrent commit changed the
// dataset's schema in a way this object's plan conflicts with (the same
// new column with another type). It is transient: the object is read
// again and reconciled with the new schema.
type SchemaConflictError struct {
	// Dataset is the dataset.
	Dataset Dataset
	// Column is the conflicting column.
	Column string
	// Have is the dataset's type of it; Want the plan's.
	Have, Want schema.Type
}

// Error names the column and both types.
func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("dataset %s: column %q became %s in a concurrent commit, this object's plan has %s (the object is reconciled again)",
		e.Dataset, e.Column, e.Have, e.Want)
}

// Permanent reports false: reconciling again resolves it.
func (e *SchemaConflictError) Permanent() bool { return false }
