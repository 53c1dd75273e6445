package sink

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Pin is a column type a user set: a column of a pinned schema or a schema
// hint.
type Pin struct {
	Name string
	Type schema.Type
	// NotNull forbids nulls (pinned schemas only; hints never set it).
	NotNull bool
}

// ReconcileInput is everything Reconcile decides from.
type ReconcileInput struct {
	// Dataset is the dataset's record, nil when it does not exist yet.
	Dataset *DatasetInfo
	// Name names the dataset in errors (used when Dataset is nil).
	Name Dataset
	// Object is the object version being loaded.
	Object ObjectRef
	// Inferred is the object's own schema, sniffed and sampled on its own
	// (with the inference's reasons).
	Inferred *schema.Schema
	// Settings are the job's settings; they become the dataset's when it
	// is created. An existing dataset's own settings are used otherwise
	// (the caller compares the two with SettingsDiff first), with the
	// job's Compression when it sets one (Settings.ForJob).
	Settings Settings
	// Schema is the job's pinned schema (the full column list), if any.
	Schema []Pin
	// Hints pin the types of some columns, if any.
	Hints []Pin
	// Earlier are other committed versions of the object's key (Lookup).
	Earlier []ObjectRef
	// Capabilities say what the sink can change in an existing dataset.
	Capabilities Capabilities
	// Now is the time recorded on added columns and on the change.
	Now time.Time
}

// TypeConflict is a column whose values in the object were inferred with
// another type than the dataset's: the dataset's type wins and values that
// do not fit it are rejected (or rescued in rescue mode).
type TypeConflict struct {
	Column string
	// Dataset is the column's type in the dataset; Object the object's.
	Dataset, Object schema.Type
	// Why says why the dataset's type was kept (e.g. "widening is not
	// allowed by the dataset's settings").
	Why string
}

// String describes the conflict for a job's warnings.
func (c TypeConflict) String() string {
	return fmt.Sprintf("column %q is %s in the dataset but %s in this object (%s): values that are not %s are %s",
		c.Column, c.Dataset, c.Object, c.Why, c.Dataset, "rejected with the reason")
}

// Reconciliation is what Reconcile decided for one object.
type Reconciliation struct {
	// Plan is what committing the object does to the dataset.
	Plan Plan
	// Read is the schema to open the object's parser with
	// (parsers.Options.Schema): the plan's data columns in plan order
	// (without _rescued and the lineage columns, which the worker fills),
	// followed by the Rescue columns.
	Read *schema.Schema
	// Rescue names the columns of Read that are not in the dataset: in
	// rescue mode their values go into the row's RescueColumn.
	Rescue []string
	// Conflicts lists columns whose dataset type was kept over the
	// object's inferred one.
	Conflicts []TypeConflict
}

// Reconcile decides how one object is loaded into its dataset: the
// dataset's columns after the commit (created from the object or the
// pinned schema, new columns added by the evolution mode, types widened
// where allowed), and the schema the object is read with. It is pure: the
// same input gives the same output.
//
// Rules: a new dataset gets the pinned schema's columns (NOT NULL where
// pinned) or the object's columns, always nullable, with hinted types; the
// rescue column at creation in rescue mode, the lineage columns when
// Settings.Lineage. An existing dataset keeps its columns and types;
// columns the object lacks are null; new columns are added nullable (add),
// read into the rescue column (rescue) or fail the object with
// *NewColumnsError (fail). A type conflict keeps the dataset's type unless
// the dataset allows widening, the column is not pinned, the sink can alter
// the column's type and the change is a widening (int64 → float64 →
// string, date → timestamp).
func Reconcile(in ReconcileInput) (*Reconciliation, error) {
	if in.Inferred == nil {
		return nil, fmt.Errorf("%w: reconcile %s: the object's schema is missing", ErrInvalidSchema, objectName(in.Object))
	}
	ds := in.Name
	settings := in.Settings.WithDefaults()
	if in.Dataset != nil {
		ds = in.Dataset.Dataset()
		settings = in.Dataset.Settings.ForJob(in.Settings)
	}
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	obj := objectName(in.Object)
	reserved := reservedColumns(settings)
	for _, f := range in.Inferred.Fields {
		if reserved[f.Name] || strings.HasPrefix(f.Name, "_s3ingest") {
			return nil, &ObjectSchemaError{Dataset: ds, Object: obj,
				Problem: fmt.Sprintf("the object has a column %q, a name the dataset reserves for its own use", f.Name),
				Fix:     fmt.Sprintf("rename the column %q in the source data", f.Name)}
		}
	}
	hints := make(map[string]Pin, len(in.Hints)+len(in.Schema))
	for _, p := range in.Hints {
		hints[p.Name] = p
	}
	for _, p := range in.Schema {
		hints[p.Name] = p
	}

	r := &Reconciliation{}
	var change *SchemaChange
	if in.Dataset == nil {
		r.Plan.Columns = newColumns(in, settings, hints, obj)
	} else {
		if err := checkPins(in.Dataset, in.Schema, in.Hints); err != nil {
			return nil, err
		}
		r.Plan.Base = in.Dataset.Version
		r.Plan.Columns = slices.Clone(in.Dataset.Columns)
	}

	// The object's columns against the (new or existing) dataset's.
	var added []Column
	var widened []Widening
	var unknown []schema.Field
	for _, f := range in.Inferred.Fields {
		i := slices.IndexFunc(r.Plan.Columns, func(c Column) bool { return c.Name == f.Name })
		if i < 0 {
			unknown = append(unknown, f)
			continue
		}
		c := &r.Plan.Columns[i]
		if fits(f.Type, c.Type) {
			continue
		}
		why := ""
		switch {
		case !widens(c.Type, f.Type):
			why = fmt.Sprintf("%s does not widen to %s", c.Type, f.Type)
		case c.Pinned:
			why = "the column's type is pinned"
		case !settings.AllowWidening:
			why = "the dataset does not allow widening"
		case !in.Capabilities.AlterColumnType:
			why = "the sink cannot change a column's type in place (a Parquet directory would hold two types under one name)"
		}
		if why != "" {
			r.Conflicts = append(r.Conflicts, TypeConflict{Column: c.Name, Dataset: c.Type, Object: f.Type, Why: why})
			continue
		}
		widened = append(widened, Widening{Column: c.Name, From: c.Type, To: f.Type})
		c.Type = f.Type
		c.Reason = fmt.Sprintf("widened from %s by %s: %s", widened[len(widened)-1].From, obj, f.Reason)
	}
	if len(unknown) > 0 {
		switch settings.Evolution {
		case EvolutionFail:
			return nil, &NewColumnsError{Dataset: ds, Object: obj, Columns: unknown}
		case EvolutionRescue:
			for _, f := range unknown {
				r.Rescue = append(r.Rescue, f.Name)
			}
		default:
			// Before the reserved columns, which stay last.
			at := len(r.Plan.Columns)
			for at > 0 && reserved[r.Plan.Columns[at-1].Name] {
				at--
			}
			for _, f := range unknown {
				added = append(added, inferredColumn(f, hints, obj, in.Now))
			}
			r.Plan.Columns = slices.Insert(r.Plan.Columns, at, added...)
		}
	}
	switch {
	case in.Dataset == nil:
		change = &SchemaChange{Version: 1, At: in.Now, Object: obj, Added: slices.Clone(r.Plan.Columns),
			Reason: "created from " + obj}
		if len(in.Schema) > 0 {
			change.Reason = "created from the job's schema, first object " + obj
		}
	case len(added) > 0 || len(widened) > 0:
		change = &SchemaChange{Version: in.Dataset.Version + 1, At: in.Now, Object: obj, Added: added, Widened: widened}
		var why []string
		if len(added) > 0 {
			why = append(why, fmt.Sprintf("new columns %s in %s", columnList(added), obj))
		}
		for _, w := range widened {
			why = append(why, fmt.Sprintf("%s widened from %s to %s for %s", w.Column, w.From, w.To, obj))
		}
		change.Reason = strings.Join(why, "; ")
	}

	// NOT NULL columns the object does not have would reject every row.
	var missing []string
	for _, c := range r.Plan.Columns {
		if !c.Nullable && !reserved[c.Name] && in.Inferred.Index(c.Name) < 0 {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		return nil, &ObjectSchemaError{Dataset: ds, Object: obj,
			Problem: fmt.Sprintf("the object has no column %s, which the dataset pins NOT NULL", quoteList(missing)),
			Fix:     "add the column to the source data, or load the object into another dataset"}
	}

	r.Plan.Settings = settings
	r.Plan.Change = change
	r.Plan.Replace = len(in.Earlier) > 0 && settings.Modified == ModifiedReplace
	r.Read = &schema.Schema{}
	for _, c := range r.Plan.Columns {
		if !reserved[c.Name] {
			r.Read.Fields = append(r.Read.Fields, schema.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable, Reason: c.Reason})
		}
	}
	for _, name := range r.Rescue {
		f := in.Inferred.Fields[in.Inferred.Index(name)]
		r.Read.Fields = append(r.Read.Fields, schema.Field{Name: f.Name, Type: f.Type, Nullable: true, Reason: f.Reason})
	}
	return r, nil
}

// newColumns returns the columns of a dataset created by the object: the
// pinned schema's (then the object's other columns, by evolution, are
// handled like a later object's), or the object's own; then the rescue and
// lineage columns.
func newColumns(in ReconcileInput, s Settings, hints map[string]Pin, obj string) []Column {
	var cols []Column
	if len(in.Schema) > 0 {
		for _, p := range in.Schema {
			cols = append(cols, Column{Name: p.Name, Type: p.Type, Nullable: !p.NotNull, Pinned: true, AddedAt: in.Now,
				Reason: "pinned by the job's schema"})
		}
	} else {
		for _, f := range in.Inferred.Fields {
			cols = append(cols, inferredColumn(f, hints, obj, in.Now))
		}
	}
	return append(cols, reservedColumnList(s, in.Now)...)
}

// inferredColumn is the dataset column of an object's inferred field:
// nullable, typed by a hint if there is one.
func inferredColumn(f schema.Field, hints map[string]Pin, obj string, now time.Time) Column {
	c := Column{Name: f.Name, Type: f.Type, Nullable: true, AddedBy: obj, AddedAt: now, Reason: f.Reason}
	if p, ok := hints[f.Name]; ok {
		c.Type, c.Pinned, c.Reason = p.Type, true, "pinned by the job's schema hint "+p.Name+":"+p.Type.String()
	}
	return c
}

// reservedColumnList returns the columns a dataset with settings s gets
// at creation besides its data: _rescued in rescue mode, the lineage
// columns with Lineage.
func reservedColumnList(s Settings, now time.Time) []Column {
	var cols []Column
	if s.Evolution == EvolutionRescue {
		cols = append(cols, Column{Name: RescueColumn, Type: schema.JSON, Nullable: true, AddedAt: now,
			Reason: "rescue mode: values without a column or of the wrong type, by source column name"})
	}
	if s.Lineage {
		cols = append(cols,
			Column{Name: LineageKey, Type: schema.String, AddedAt: now, Reason: "lineage: the source object's s3:// URL"},
			Column{Name: LineageVersion, Type: schema.String, AddedAt: now, Reason: "lineage: the source object's version ID, else its ETag"},
			Column{Name: LineageIngested, Type: schema.Timestamp, AddedAt: now, Reason: "lineage: when the object's load started"},
			Column{Name: LineageLine, Type: schema.Int64, AddedAt: now, Reason: "lineage: the row's line (CSV, JSON) or row number (Parquet) in the source object"},
		)
	}
	return cols
}

// reservedColumns returns the set of names reservedColumnList gives s.
func reservedColumns(s Settings) map[string]bool {
	m := map[string]bool{}
	for _, c := range reservedColumnList(s, time.Time{}) {
		m[c.Name] = true
	}
	return m
}

// Reserved reports whether name is a column the worker fills in a dataset
// with these settings (the rescue column in rescue mode, the lineage
// columns with lineage). In a dataset without them, a source column of
// such a name is ordinary data.
func (s Settings) Reserved(name string) bool { return reservedColumns(s.WithDefaults())[name] }

// IsReserved reports whether name is a column the worker fills rather than
// the source data (the rescue and lineage columns).
func IsReserved(name string) bool {
	switch name {
	case RescueColumn, LineageKey, LineageVersion, LineageIngested, LineageLine:
		return true
	}
	return false
}

// checkPins compares a job's pinned schema and hints with an existing
// dataset: a pinned column must exist with the pinned type and
// nullability, a hinted column that exists must have the hinted type.
func checkPins(d *DatasetInfo, pinned, hints []Pin) error {
	var diffs []string
	for _, p := range pinned {
		c := d.Column(p.Name)
		switch {
		case c == nil:
			diffs = append(diffs, fmt.Sprintf("the job's schema has column %q, the dataset does not", p.Name))
		case c.Type != p.Type:
			diffs = append(diffs, fmt.Sprintf("column %q is %s in the dataset, %s in the job's schema", p.Name, c.Type, p.Type))
		case c.Nullable == p.NotNull:
			diffs = append(diffs, fmt.Sprintf("column %q is %s in the dataset, %s in the job's schema", p.Name, nullability(c.Nullable), nullability(!p.NotNull)))
		}
	}
	for _, p := range hints {
		if c := d.Column(p.Name); c != nil && c.Type != p.Type {
			diffs = append(diffs, fmt.Sprintf("column %q is %s in the dataset, %s in the job's schema hints", p.Name, c.Type, p.Type))
		}
	}
	if len(diffs) > 0 {
		return &ContractError{Dataset: d.Dataset(), Differences: diffs}
	}
	return nil
}

func nullability(nullable bool) string {
	if nullable {
		return "nullable"
	}
	return "NOT NULL"
}

// SettingsDiff lists how the settings a job asks for differ from a
// dataset's, e.g. `evolution: dataset "add", job "fail"`; nil when they
// agree. Only what the job sets counts (an empty mode, or widening and
// lineage off, accept the dataset's).
func SettingsDiff(dataset, job Settings) []string {
	d := dataset.WithDefaults()
	var out []string
	if job.Evolution != "" && d.Evolution != job.Evolution {
		out = append(out, fmt.Sprintf("evolution: dataset %q, job %q", d.Evolution, job.Evolution))
	}
	if job.Modified != "" && d.Modified != job.Modified {
		out = append(out, fmt.Sprintf("modified: dataset %q, job %q", d.Modified, job.Modified))
	}
	if job.AllowWidening && !d.AllowWidening {
		out = append(out, "allow_widening: dataset false, job true")
	}
	if job.Lineage && !d.Lineage {
		out = append(out, "lineage: dataset false, job true")
	}
	return out
}

// fits reports whether values inferred as from load into a column of type
// to without a schema change: the same type, a narrower type on a widening
// chain, or anything into a string column.
func fits(from, to schema.Type) bool {
	return from == to || to == schema.String || widens(from, to) || (from == schema.Bool && to == schema.Int64)
}

// widens reports whether a column of type from may widen to type to:
// int64 → float64 → string, date → timestamp.
func widens(from, to schema.Type) bool {
	switch from {
	case schema.Int64:
		return to == schema.Float64 || to == schema.String
	case schema.Float64:
		return to == schema.String
	case schema.Date:
		return to == schema.Timestamp
	}
	return false
}

// objectName renders an object version as Column.AddedBy wants it:
// "s3://bucket/key#version".
func objectName(o ObjectRef) string {
	s := "s3://" + o.Bucket + "/" + o.Key
	if v := o.Version(); v != "" {
		s += "#" + v
	}
	return s
}

func columnList(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%q %s", c.Name, c.Type)
	}
	return strings.Join(parts, ", ")
}

func quoteList(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(parts, ", ")
}

// NewColumnsError reports that an object brings columns a dataset in fail
// mode does not have. It is permanent.
type NewColumnsError struct {
	Dataset Dataset
	// Object is the object version ("s3://bucket/key#version").
	Object string
	// Columns are the new columns with their inferred types.
	Columns []schema.Field
}

// Error names the dataset, the object and the new columns.
func (e *NewColumnsError) Error() string {
	parts := make([]string, len(e.Columns))
	for i, f := range e.Columns {
		parts[i] = fmt.Sprintf("%q (%s)", f.Name, f.Type)
	}
	return fmt.Sprintf("dataset %s does not accept new columns (evolution fail): %s brings %s; %s",
		e.Dataset, e.Object, strings.Join(parts, ", "), e.Fix())
}

// Permanent reports true: the same object brings the same columns.
func (e *NewColumnsError) Permanent() bool { return true }

// Fix says what to change.
func (e *NewColumnsError) Fix() string {
	return "remove the columns from the source data, load the object into another dataset, or use a dataset whose evolution mode is add or rescue"
}

// ContractError reports that a job asks a dataset for another contract
// (settings, pinned schema or hints) than the dataset has. It is
// permanent: a dataset's contract is changed deliberately, not by the
// next job.
type ContractError struct {
	Dataset Dataset
	// Differences lists each difference, naming both values.
	Differences []string
}

// Error lists the differences.
func (e *ContractError) Error() string {
	return fmt.Sprintf("the job's contract differs from dataset %s's: %s; %s", e.Dataset, strings.Join(e.Differences, "; "), e.Fix())
}

// Permanent reports true.
func (e *ContractError) Permanent() bool { return true }

// Fix says what to change.
func (e *ContractError) Fix() string {
	return "give the job the dataset's settings and schema (or none), or load into another dataset"
}

// ObjectSchemaError reports an object whose columns cannot load into the
// dataset (a reserved column name, a missing NOT NULL column). It is
// permanent.
type ObjectSchemaError struct {
	Dataset Dataset
	Object  string
	// Problem says what is wrong.
	Problem string
	// Fix says what to change, in words.
	Fix string
}

// Error names the dataset, the object, the problem and the fix.
func (e *ObjectSchemaError) Error() string {
	return fmt.Sprintf("dataset %s: %s: %s (%s)", e.Dataset, e.Object, e.Problem, e.Fix)
}

// Permanent reports true.
func (e *ObjectSchemaError) Permanent() bool { return true }
