package jobs

import (
	"fmt"
	"strings"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Evolution says what an object's columns that the dataset does not have
// do to the dataset (the sink's modes of the same names).
type Evolution string

// Evolution modes.
const (
	// EvolutionAdd (the default) adds new columns, nullable.
	EvolutionAdd Evolution = "add"
	// EvolutionRescue keeps the schema and puts values of unknown columns,
	// and values that do not fit their column's type, into the row's
	// _rescued JSON column.
	EvolutionRescue Evolution = "rescue"
	// EvolutionFail fails an object that brings new columns.
	EvolutionFail Evolution = "fail"
)

// Modified says what a new version of an already loaded object (same key,
// new ETag or version) does to the dataset.
type Modified string

// Modified-object policies.
const (
	// ModifiedReplace (the default): the key's earlier rows are removed in
	// the commit that adds the new version's rows.
	ModifiedReplace Modified = "replace"
	// ModifiedAppend keeps the earlier rows beside the new ones.
	ModifiedAppend Modified = "append"
	// ModifiedSkip loads a key once; later versions are skipped.
	ModifiedSkip Modified = "skip"
)

// MaxContractColumns bounds the columns of a pinned schema or of hints.
const MaxContractColumns = 10000

// ColumnSpec is a column a user pins: its name and type, and whether it
// must never be null.
type ColumnSpec struct {
	Name    string      `json:"name"`
	Type    schema.Type `json:"type"`
	NotNull bool        `json:"not_null,omitempty"`
}

// String renders the spec as ParseColumnSpecs reads it: "name:type" with
// "!" appended for NOT NULL.
func (c ColumnSpec) String() string {
	s := c.Name + ":" + c.Type.String()
	if c.NotNull {
		s += "!"
	}
	return s
}

// ParseColumnSpecs parses "id:int64!,amount:float64,email:string" — a
// comma-separated list of name:type, "!" after the type for NOT NULL. Names
// may not contain ',' or ':' in this form (use the JSON payload for those).
// Errors name the field (e.g. "schema" or "schema_hints").
func ParseColumnSpecs(field, s string) ([]ColumnSpec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []ColumnSpec
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		name, typ, ok := strings.Cut(part, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fieldErr(field, fmt.Sprintf("entry %d %q: want name:type, e.g. amount:float64", i+1, part))
		}
		typ = strings.TrimSpace(typ)
		notNull := strings.HasSuffix(typ, "!")
		t, err := schema.ParseType(strings.TrimSuffix(typ, "!"))
		if err != nil {
			return nil, fieldErr(field, fmt.Sprintf("entry %d %q: %v", i+1, part, err))
		}
		out = append(out, ColumnSpec{Name: strings.TrimSpace(name), Type: t, NotNull: notNull})
	}
	if err := validateColumnSpecs(field, out); err != nil {
		return nil, err
	}
	return out, nil
}

func validateColumnSpecs(field string, cols []ColumnSpec) error {
	if len(cols) > MaxContractColumns {
		return fieldErr(field, fmt.Sprintf("%d columns, at most %d allowed", len(cols), MaxContractColumns))
	}
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		switch {
		case c.Name == "":
			return fieldErr(field, fmt.Sprintf("column %d has an empty name", i+1))
		case len(c.Name) > MaxFieldBytes:
			return fieldErr(field, fmt.Sprintf("column %d name is %d bytes long, at most %d allowed", i+1, len(c.Name), MaxFieldBytes))
		case c.Type > schema.JSON:
			return fieldErr(field, fmt.Sprintf("column %q has unknown type %d", c.Name, c.Type))
		case seen[c.Name]:
			return fieldErr(field, fmt.Sprintf("column %q appears twice", c.Name))
		}
		seen[c.Name] = true
	}
	return nil
}

// Contract is what an ingest asks of its dataset. It is stored on the
// dataset when the ingest creates it; a later ingest that asks for
// different settings fails with the difference (the dataset's settings are
// changed deliberately, not by the next job that happens to run).
type Contract struct {
	// Schema pins the dataset's full column list with types (and NOT NULL
	// where marked); objects are read with it.
	Schema []ColumnSpec `json:"schema,omitempty"`
	// SchemaHints pin the types of some columns; the others are inferred.
	SchemaHints []ColumnSpec `json:"schema_hints,omitempty"`
	// Evolution is add (default), rescue or fail.
	Evolution Evolution `json:"evolution,omitempty"`
	// Modified is replace (default), append or skip.
	Modified Modified `json:"modified,omitempty"`
	// AllowWidening lets a column's type widen (int64 → float64 → string,
	// date → timestamp) where the sink can change it in place (PostgreSQL).
	AllowWidening bool `json:"allow_widening,omitempty"`
	// Lineage adds _source_key, _source_version, _ingested_at and
	// _source_line to every row.
	Lineage bool `json:"lineage,omitempty"`
	// Compression is the Parquet codec of the files the job writes into a
	// file dataset: snappy, zstd, lz4_raw, none or gzip (default: the
	// dataset's, else the sink's default, snappy). Unlike the settings
	// above it is physical, not a contract: a job asking for another codec
	// than the dataset's writes its files with its own, and the dataset
	// records it for the jobs after (files written before keep theirs).
	Compression Codec `json:"compression,omitempty"`
}

// Codec names a Parquet compression codec (Contract.Compression).
type Codec string

// Codecs (the sink's names).
const (
	CodecSnappy Codec = "snappy"
	CodecZstd   Codec = "zstd"
	CodecLZ4Raw Codec = "lz4_raw"
	CodecNone   Codec = "none"
	CodecGzip   Codec = "gzip"
)

// Validate checks that c is empty or a known codec; the error names the
// field (compression).
func (c Codec) Validate() error {
	switch c {
	case "", CodecSnappy, CodecZstd, CodecLZ4Raw, CodecNone, CodecGzip:
		return nil
	}
	return fieldErr("compression", fmt.Sprintf("%q: want snappy, zstd, lz4_raw, none or gzip (the Parquet codec of the dataset's files)", string(c)))
}

// Validate checks the contract; errors name the field.
func (c *Contract) Validate() error {
	switch c.Evolution {
	case "", EvolutionAdd, EvolutionRescue, EvolutionFail:
	default:
		return fieldErr("evolution", fmt.Sprintf("%q: want add, rescue or fail", c.Evolution))
	}
	switch c.Modified {
	case "", ModifiedReplace, ModifiedAppend, ModifiedSkip:
	default:
		return fieldErr("modified", fmt.Sprintf("%q: want replace, append or skip", c.Modified))
	}
	if err := c.Compression.Validate(); err != nil {
		return err
	}
	if err := validateColumnSpecs("schema", c.Schema); err != nil {
		return err
	}
	if err := validateColumnSpecs("schema_hints", c.SchemaHints); err != nil {
		return err
	}
	if len(c.Schema) > 0 && len(c.SchemaHints) > 0 {
		return fieldErr("schema_hints", "give either a full schema or hints, not both")
	}
	return nil
}
