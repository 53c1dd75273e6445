package sink

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// DatasetContents is the whole content of a FileSink dataset, as read by
// ReadDataset.
type DatasetContents struct {
	// Schema is the union of the files' columns by name, in first-seen
	// order (files are visited in name order).
	Schema *schema.Schema
	// Rows holds every row in Schema order, as plain values (see
	// schema.Vector.Value: nil, bool, int64, float64, "2006-01-02" dates,
	// RFC 3339 timestamps, strings, json.RawMessage). A column missing
	// from a file is nil in that file's rows.
	Rows [][]any
	// Objects holds the ledger entry of each file.
	Objects []LedgerEntry
	// Rejects holds the published rejects of committed files.
	Rejects []Reject
}

// ReadDataset reads a FileSink dataset directory (FileSink.DatasetDir:
// <root>/<workspace>/<dataset>) into memory: for tests, demos and small
// datasets only.
func ReadDataset(dir string) (*DatasetContents, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil {
		return nil, fmt.Errorf("read dataset %s: %w", dir, err)
	}
	sort.Strings(paths)
	ds := &DatasetContents{Schema: &schema.Schema{}}
	for _, p := range paths {
		if err := ds.readFile(p); err != nil {
			return nil, fmt.Errorf("read dataset %s: %w", dir, err)
		}
		rej := filepath.Join(dir, rejectsDir, strings.TrimSuffix(filepath.Base(p), ".parquet")+".ndjson")
		if err := ds.readRejects(rej); err != nil {
			return nil, fmt.Errorf("read dataset %s: %w", dir, err)
		}
	}
	return ds, nil
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

func (ds *DatasetContents) readFile(path string) error {
	f, pf, err := openPart(path)
	if err != nil {
		return err
	}
	defer f.Close()
	entry, sch, err := partMeta(path, pf)
	if err != nil {
		return err
	}
	ds.Objects = append(ds.Objects, entry)

	// Map the file's leaf columns to dataset columns.
	cols := pf.Schema().Columns()
	target := make([]int, len(cols))
	types := make([]schema.Type, len(cols))
	for i, path := range cols {
		fi := sch.Index(path[0])
		if fi < 0 {
			return fmt.Errorf("%s: column %q is not in the file's schema metadata", f.Name(), path[0])
		}
		fld := sch.Fields[fi]
		di := ds.Schema.Index(fld.Name)
		if di < 0 {
			ds.Schema.Fields = append(ds.Schema.Fields, schema.Field{Name: fld.Name, Type: fld.Type, Nullable: fld.Nullable})
			di = len(ds.Schema.Fields) - 1
		} else if ds.Schema.Fields[di].Type != fld.Type {
			return fmt.Errorf("%s: column %q is %s, earlier files have %s", f.Name(), fld.Name, fld.Type, ds.Schema.Fields[di].Type)
		}
		target[i], types[i] = di, fld.Type
	}

	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				out := make([]any, len(ds.Schema.Fields))
				for _, v := range r {
					c := v.Column()
					out[target[c]] = plainValue(v, types[c])
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
	// Earlier rows are shorter if later files added columns.
	for i, r := range ds.Rows {
		if len(r) < len(ds.Schema.Fields) {
			ds.Rows[i] = append(r, make([]any, len(ds.Schema.Fields)-len(r))...)
		}
	}
	return nil
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

func (ds *DatasetContents) readRejects(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		ds.Rejects = append(ds.Rejects, r)
	}
	return sc.Err()
}
