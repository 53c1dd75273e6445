package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// DatasetContents is the whole content of a FileSink dataset, as read by
// ReadDataset.
type DatasetContents struct {
	// Schema is the dataset's columns, from its manifest, in order.
	Schema *schema.Schema
	// Rows holds every row of the listed parts in Schema order, as plain
	// values (see schema.Vector.Value: nil, bool, int64, float64,
	// "2006-01-02" dates, RFC 3339 timestamps, strings, json.RawMessage).
	// A column missing from a part is nil in that part's rows.
	Rows [][]any
	// Objects holds the ledger entry of each listed part, in commit order.
	Objects []LedgerEntry
	// Rejects holds the rejects of the listed parts, in commit order.
	Rejects []Reject
}

// ReadDataset reads a FileSink dataset directory (FileSink.DatasetDir:
// <root>/<workspace>/<dataset>) into memory as one table: the parts its
// manifest lists (see ReadManifest), unioned by column name with the
// manifest's columns, one type per column. For tests, demos and small
// datasets only. A directory without a dataset reads as empty.
func ReadDataset(dir string) (*DatasetContents, error) {
	for attempt := 0; ; attempt++ {
		m, err := ReadManifest(dir)
		if errors.Is(err, ErrDatasetNotFound) {
			return &DatasetContents{Schema: &schema.Schema{}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read dataset %s: %w", dir, err)
		}
		c, err := readManifestParts(dir, m)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue // a replacement removed a part after the manifest was read
		}
		if err != nil {
			return nil, fmt.Errorf("read dataset %s: %w", dir, err)
		}
		return c, nil
	}
}

// readManifestParts reads the parts m lists.
func readManifestParts(dir string, m *Manifest) (*DatasetContents, error) {
	c := &DatasetContents{Schema: ColumnsSchema(m.Dataset.Columns)}
	for i := range c.Schema.Fields {
		c.Schema.Fields[i].Reason = ""
	}
	ds := Dataset{Workspace: m.Dataset.Workspace, Name: m.Dataset.Name}
	for _, p := range m.Parts {
		if err := c.readFile(filepath.Join(dir, p.File)); err != nil {
			return nil, err
		}
		c.Objects = append(c.Objects, p.entry(ds))
		if p.RejectsFile != "" {
			err := scanRejects(filepath.Join(dir, p.RejectsFile), func(r Reject) bool {
				c.Rejects = append(c.Rejects, r)
				return true
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// ReadPart reads the ledger entry and schema of one data file.
func ReadPart(path string) (LedgerEntry, *schema.Schema, error) {
	f, pf, err := openPart(path)
	if err != nil {
		return LedgerEntry{}, nil, err
	}
	defer f.Close()
	return partMeta(path, pf)
}

func openPart(path string) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, pf, nil
}

func partMeta(path string, pf *parquet.File) (LedgerEntry, *schema.Schema, error) {
	var entry LedgerEntry
	var sch schema.Schema
	lj, ok := pf.Lookup(MetaLedger)
	if !ok {
		return entry, nil, fmt.Errorf("%s: no %s metadata: not written by s3ingest", path, MetaLedger)
	}
	if err := json.Unmarshal([]byte(lj), &entry); err != nil {
		return entry, nil, fmt.Errorf("%s: bad %s metadata: %w", path, MetaLedger, err)
	}
	sj, ok := pf.Lookup(MetaSchema)
	if !ok {
		return entry, nil, fmt.Errorf("%s: no %s metadata: not written by s3ingest", path, MetaSchema)
	}
	if err := json.Unmarshal([]byte(sj), &sch); err != nil {
		return entry, nil, fmt.Errorf("%s: bad %s metadata: %w", path, MetaSchema, err)
	}
	return entry, &sch, nil
}

// readFile appends the rows of one part, mapping its columns to the
// dataset's by name and converting values of a part written with another
// type (by an earlier version) to the dataset's type.
func (ds *DatasetContents) readFile(path string) error {
	f, pf, err := openPart(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, sch, err := partMeta(path, pf)
	if err != nil {
		return err
	}

	// Map the file's leaf columns to dataset columns.
	cols := pf.Schema().Columns()
	target := make([]int, len(cols))
	types := make([]schema.Type, len(cols))
	for i, path := range cols {
		fi := sch.Index(path[0])
		if fi < 0 {
			return fmt.Errorf("%s: column %q is not in the file's schema metadata", f.Name(), path[0])
		}
		di := ds.Schema.Index(path[0])
		if di < 0 {
			return fmt.Errorf("%s: column %q is not in the dataset's manifest", f.Name(), path[0])
		}
		target[i], types[i] = di, sch.Fields[fi].Type
	}

	width := len(ds.Schema.Fields)
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				out := make([]any, width)
				for _, v := range r {
					c := v.Column()
					out[target[c]] = convertValue(plainValue(v, types[c]), types[c], ds.Schema.Fields[target[c]].Type)
				}
				ds.Rows = append(ds.Rows, out)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("%s: %w", f.Name(), err)
			}
		}
		rows.Close()
	}
	return nil
}

// convertValue converts a plain value of type from to type to (see
// commonType: int64 → float64, date → timestamp, anything → string).
func convertValue(v any, from, to schema.Type) any {
	if v == nil || from == to {
		return v
	}
	switch x := v.(type) {
	case int64:
		if to == schema.Float64 {
			return float64(x)
		}
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case json.RawMessage:
		return string(x)
	case string:
		if from == schema.Date && to == schema.Timestamp {
			return x + "T00:00:00Z"
		}
		return x
	}
	return fmt.Sprint(v)
}

// plainValue converts a Parquet value to the schema.Vector.Value form.
func plainValue(v parquet.Value, t schema.Type) any {
	if v.IsNull() {
		return nil
	}
	switch t {
	case schema.Bool:
		return v.Boolean()
	case schema.Int64:
		return v.Int64()
	case schema.Float64:
		return v.Double()
	case schema.Date:
		return schema.FormatDate(int64(v.Int32()))
	case schema.Timestamp:
		return schema.FormatTimestamp(v.Int64())
	case schema.JSON:
		return json.RawMessage(append([]byte(nil), v.ByteArray()...))
	default:
		return string(v.ByteArray())
	}
}
