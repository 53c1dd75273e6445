package worker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// assembler turns the parser's batches (the plan's read schema) into the
// batches the sink expects (the plan's columns): data columns are handed
// over as they are, the worker fills the rescue column from the read
// columns outside the dataset and the lineage columns from the object and
// the batch's line numbers.
type assembler struct {
	out *schema.Batch
	// from[i] is the read column of plan column i, or -1 for a column the
	// worker fills.
	from []int
	// rescue are the read columns whose values go to the rescue column.
	rescue []int
	names  []string // the rescue columns' names

	key, version string
	ingested     int64 // µs since the epoch
}

// newAssembler maps the read schema onto the plan's columns. rescue names
// read columns that are not in the plan.
func newAssembler(cols []sink.Column, settings sink.Settings, read *schema.Schema, rescue []string, obj sink.ObjectRef, start time.Time) (*assembler, error) {
	a := &assembler{out: schema.NewBatch(sink.ColumnsSchema(cols), 0), from: make([]int, len(cols)),
		key: "s3://" + obj.Bucket + "/" + obj.Key, version: obj.VersionID, ingested: schema.TimestampFromTime(start)}
	if a.version == "" {
		a.version = obj.ETag
	}
	for i, c := range cols {
		a.from[i] = -1
		if settings.Reserved(c.Name) {
			if c.Name == sink.RescueColumn {
				if j := read.Index(c.Name); j >= 0 && read.Fields[j].Type == schema.JSON {
					a.from[i] = j // the parser rescued
				}
			}
			continue // filled by the worker
		}
		j := read.Index(c.Name)
		if j < 0 || read.Fields[j].Type != c.Type {
			return nil, fmt.Errorf("the parser's schema does not have column %q as %s", c.Name, c.Type)
		}
		a.from[i] = j
	}
	for _, name := range rescue {
		j := read.Index(name)
		if j < 0 {
			return nil, fmt.Errorf("the parser's schema does not have rescued column %q", name)
		}
		a.rescue = append(a.rescue, j)
		a.names = append(a.names, name)
	}
	return a, nil
}

// batch returns b in the plan's shape. The returned batch shares b's
// memory: it is valid until b is refilled.
func (a *assembler) batch(b *schema.Batch) *schema.Batch {
	n := b.Len()
	a.out.Lines = b.Lines
	for i, j := range a.from {
		if j >= 0 {
			a.out.Cols[i] = b.Cols[j]
			continue
		}
		v := &a.out.Cols[i]
		v.Reset()
		switch a.out.Schema.Fields[i].Name {
		case sink.LineageKey:
			for range n {
				v.AppendString(a.key)
			}
		case sink.LineageVersion:
			for range n {
				v.AppendString(a.version)
			}
		case sink.LineageIngested:
			for range n {
				v.AppendInt(a.ingested)
			}
		case sink.LineageLine:
			for r := range n {
				v.AppendInt(b.Lines[r])
			}
		case sink.RescueColumn:
			a.rescued(v, b)
		default:
			for range n {
				v.AppendNull()
			}
		}
	}
	return a.out
}

// rescued fills the rescue column: per row, a JSON object of the non-null
// values of the rescue columns by source column name, or null.
func (a *assembler) rescued(v *schema.Vector, b *schema.Batch) {
	for r := range b.Len() {
		m := map[string]any{}
		for k, j := range a.rescue {
			if val := b.Cols[j].Value(r); val != nil {
				m[a.names[k]] = val
			}
		}
		if len(m) == 0 {
			v.AppendNull()
			continue
		}
		doc, err := json.Marshal(m)
		if err != nil { // values of the parser always encode; keep the row
			doc, _ = json.Marshal(map[string]string{"_error": err.Error()})
		}
		v.AppendBytes(doc)
	}
}
