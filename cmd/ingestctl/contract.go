package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/jobs"
)

// contractFlags are what an ingest asks of its dataset (jobs.Contract),
// shared by ingest and schedule add.
type contractFlags struct {
	schema, hints       string
	evolution, modified string
	widening, lineage   bool
	codec               string
}

func (f *contractFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.schema, "schema", "", `the dataset's full column list, name:type with ! for NOT NULL, e.g. "id:int64!,amount:float64" (default: inferred)`)
	fl.StringVar(&f.hints, "schema-hints", "", `types of some columns, the others inferred, e.g. "amount:string"`)
	fl.StringVar(&f.evolution, "evolution", "", "new columns in an object: add (default: added, nullable), rescue (kept in the _rescued column) or fail")
	fl.StringVar(&f.modified, "modified", "", "a new version of a loaded object: replace (default: its earlier rows are removed), append or skip")
	fl.BoolVar(&f.widening, "allow-widening", false, "let a column's type widen (int64 → float64 → string, date → timestamp) where the sink can")
	fl.BoolVar(&f.lineage, "lineage", false, "add _source_key, _source_version, _ingested_at and _source_line to every row")
	// --compression is the source objects' compression (parse.compression).
	fl.StringVar(&f.codec, "parquet-compression", "", "codec of the Parquet files written: snappy, zstd, lz4_raw, none or gzip (default: the dataset's, else snappy); a new codec applies to new files")
}

// contract returns the jobs.Contract the flags ask for; errors name the
// flag.
func (f *contractFlags) contract() (jobs.Contract, error) {
	c := jobs.Contract{
		Evolution:     jobs.Evolution(f.evolution),
		Modified:      jobs.Modified(f.modified),
		AllowWidening: f.widening,
		Lineage:       f.lineage,
		Compression:   jobs.Codec(f.codec),
	}
	switch c.Evolution {
	case "", jobs.EvolutionAdd, jobs.EvolutionRescue, jobs.EvolutionFail:
	default:
		return c, fmt.Errorf("--evolution %q: want add, rescue or fail", f.evolution)
	}
	switch c.Modified {
	case "", jobs.ModifiedReplace, jobs.ModifiedAppend, jobs.ModifiedSkip:
	default:
		return c, fmt.Errorf("--modified %q: want replace, append or skip", f.modified)
	}
	if err := c.Compression.Validate(); err != nil {
		return c, nameFlags(err)
	}
	if strings.TrimSpace(f.schema) != "" && strings.TrimSpace(f.hints) != "" {
		return c, errors.New("--schema and --schema-hints: give either a full schema or hints, not both")
	}
	var err error
	if c.Schema, err = jobs.ParseColumnSpecs("--schema", f.schema); err != nil {
		return c, err
	}
	if c.SchemaHints, err = jobs.ParseColumnSpecs("--schema-hints", f.hints); err != nil {
		return c, err
	}
	return c, nil
}

// payloadFlags maps payload fields (jobs.PayloadError.Field) to the flags
// that set them.
var payloadFlags = map[string]string{
	"workspace_id":                     "--workspace",
	"credential_id":                    "--credential",
	"dataset":                          "--dataset",
	"concurrency":                      "--concurrency",
	"rows":                             "--rows",
	"id":                               "--id",
	"cron":                             "--cron",
	"source.bucket":                    "--bucket",
	"source.prefix":                    "--prefix",
	"source.glob":                      "--glob",
	"source.keys":                      "--key",
	"source.version_id":                "--version-id",
	"parse.format":                     "--format",
	"parse.compression":                "--compression",
	"error_budget.object_max_rows":     "--max-rejects",
	"error_budget.object_max_fraction": "--max-reject-fraction",
	"error_budget.job_max_rows":        "--job-max-rejects",
	"error_budget.job_max_fraction":    "--job-max-reject-fraction",
	"schema":                           "--schema",
	"schema_hints":                     "--schema-hints",
	"evolution":                        "--evolution",
	"modified":                         "--modified",
	"compression":                      "--parquet-compression",
}

// flagError is a payload validation error renamed to the flag the user
// typed; errors.Is(err, jobs.ErrInvalidPayload) still holds.
type flagError struct {
	flag string
	pe   *jobs.PayloadError
}

// Error is "--flag: reason", with the payload's dotted field names in the
// reason (e.g. "cannot be combined with source.prefix") renamed too.
func (e *flagError) Error() string {
	reason := e.pe.Reason
	for field, flag := range payloadFlags {
		if strings.Contains(field, ".") {
			reason = strings.ReplaceAll(reason, field, flag)
		}
	}
	return e.flag + ": " + reason
}
func (e *flagError) Unwrap() error { return e.pe }

// nameFlags renames a payload validation error's field to its flag
// (source.bucket → --bucket); other errors are returned as they are.
func nameFlags(err error) error {
	var pe *jobs.PayloadError
	if !errors.As(err, &pe) || pe.Field == "" {
		return err
	}
	field := pe.Field
	if i := strings.IndexByte(field, '['); i >= 0 { // source.keys[3]
		field = field[:i]
	}
	if flag, ok := payloadFlags[field]; ok {
		return &flagError{flag: flag, pe: pe}
	}
	return err
}
