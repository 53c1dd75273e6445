// Package bench holds side-by-side benchmarks of s3ingest components
// against well-known peers on the same generated data.
package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The data: ~10 MB of 12 mixed columns (ints, floats, a date, timestamps
// with and without an offset, strings with quotes and commas, a bool),
// as CSV with a header and as NDJSON.

var genNames = []string{"alice", "bob", "carol", "dave", "eve", "mallory", "oscar", "peggy"}
var genCountries = []string{"DE", "FR", "US", "JP", "BR", "IN"}

func pad2(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

func genData(jsonl bool, size int) []byte {
	var b bytes.Buffer
	if !jsonl {
		b.WriteString("id,user_id,amount,ratio,count,created,updated,event_ts,name,comment,flag,country\n")
	}
	for i := 0; b.Len() < size; i++ {
		x := uint64(i)*2654435761 + 12345
		day := 1 + int(x%28)
		sec := int(x % 86400)
		ts := "2024-03-" + pad2(day) + "T" + pad2(sec/3600) + ":" + pad2(sec/60%60) + ":" + pad2(sec%60)
		name := genNames[x%uint64(len(genNames))]
		country := genCountries[x%uint64(len(genCountries))]
		amount := strconv.FormatFloat(float64(x%100000)/100, 'f', 2, 64)
		ratio := strconv.FormatFloat(float64(x%1000003)/1000003, 'f', 6, 64)
		if jsonl {
			fmt.Fprintf(&b, `{"id":%d,"user_id":%d,"amount":%s,"ratio":%s,"count":%d,"created":"2024-02-%s","updated":"%sZ","event_ts":"%s.123456+02:00","name":"%s","comment":"said \"hi\", then left #%d","flag":%t,"country":"%s"}`+"\n",
				i, x%1000003, amount, ratio, x%100, pad2(day), ts, ts, name, x%997, x%3 == 0, country)
		} else {
			fmt.Fprintf(&b, "%d,%d,%s,%s,%d,2024-02-%s,%sZ,%s.123456+02:00,%s,\"said \"\"hi\"\", then left #%d\",%t,%s\n",
				i, x%1000003, amount, ratio, x%100, pad2(day), ts, ts, name, x%997, x%3 == 0, country)
		}
	}
	return b.Bytes()
}

var (
	dataOnce         sync.Once
	csvData, ndjData []byte
)

func data() ([]byte, []byte) {
	dataOnce.Do(func() {
		csvData = genData(false, 10<<20)
		ndjData = genData(true, 10<<20)
	})
	return csvData, ndjData
}

// measure runs fn b.N times, reports MB/s per CPU-second next to the usual
// wall-clock MB/s, and notes both for the comparison table.
func measure(b *testing.B, comparison, impl string, n int, fn func()) {
	b.SetBytes(int64(n))
	b.ReportAllocs()
	c0 := cpuTime()
	for range b.N {
		fn()
	}
	mb := float64(n) * float64(b.N) / 1e6
	cpu := (cpuTime() - c0).Seconds()
	if cpu > 0 {
		b.ReportMetric(mb/cpu, "MB/cpu-s")
	}
	note(comparison, impl, "MB/s", mb, b.Elapsed().Seconds(), cpu)
}

// typed is the schema every peer converts to.
var typed = &schema.Schema{Fields: []schema.Field{
	{Name: "id", Type: schema.Int64}, {Name: "user_id", Type: schema.Int64},
	{Name: "amount", Type: schema.Float64}, {Name: "ratio", Type: schema.Float64},
	{Name: "count", Type: schema.Int64}, {Name: "created", Type: schema.Date},
	{Name: "updated", Type: schema.Timestamp}, {Name: "event_ts", Type: schema.Timestamp},
	{Name: "name", Type: schema.String}, {Name: "comment", Type: schema.String},
	{Name: "flag", Type: schema.Bool}, {Name: "country", Type: schema.String},
}}

func s3ingestRead(b *testing.B, data []byte) {
	obj := parsers.BytesObject("bench", data)
	r, err := parsers.Open(context.Background(), obj, parsers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	batch := schema.NewBatch(r.Schema(), parsers.DefaultBatchRows)
	for {
		err := r.Next(context.Background(), batch)
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// encodingCSVRead is the peer: encoding/csv with ReuseRecord plus strconv
// and time.Parse into the same typed batch.
func encodingCSVRead(b *testing.B, data []byte) {
	encodingCSVBatches(b, bytes.NewReader(data), func(*schema.Batch) {})
}

// encodingCSVBatches parses r with encoding/csv into typed batches and hands
// each full batch (and the last one) to emit.
func encodingCSVBatches(b *testing.B, r io.Reader, emit func(*schema.Batch)) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil { // header
		b.Fatal(err)
	}
	batch := schema.NewBatch(typed, parsers.DefaultBatchRows)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			if batch.Len() > 0 {
				emit(batch)
			}
			return
		}
		if err != nil {
			b.Fatal(err)
		}
		if batch.Len() == parsers.DefaultBatchRows {
			emit(batch)
			batch.Reset()
		}
		for i, f := range typed.Fields {
			v := &batch.Cols[i]
			s := rec[i]
			switch f.Type {
			case schema.Int64:
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				v.AppendInt(n)
			case schema.Float64:
				x, err := strconv.ParseFloat(s, 64)
				if err != nil {
					b.Fatal(err)
				}
				v.AppendFloat(x)
			case schema.Bool:
				x, err := strconv.ParseBool(s)
				if err != nil {
					b.Fatal(err)
				}
				v.AppendBool(x)
			case schema.Date:
				t, err := time.Parse(time.DateOnly, s)
				if err != nil {
					b.Fatal(err)
				}
				v.AppendInt(schema.DateFromTime(t))
			case schema.Timestamp:
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					b.Fatal(err)
				}
				v.AppendInt(t.UnixMicro())
			default:
				v.AppendString(s)
			}
		}
		batch.Lines = append(batch.Lines, 0)
	}
}

// encodingJSONRead is the peer: encoding/json decoding each line into a
// map[string]any.
func encodingJSONRead(b *testing.B, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCSV compares s3ingest's CSV reader (sniffing, inference and
// typed conversion) with encoding/csv + strconv/time.Parse into the same
// typed batch.
func BenchmarkCSV(b *testing.B) {
	c, _ := data()
	for _, p := range []struct {
		name string
		fn   func(*testing.B, []byte)
	}{{ours, s3ingestRead}, {"encoding/csv + strconv", encodingCSVRead}} {
		b.Run(p.name, func(b *testing.B) { measure(b, "CSV parse, typed", p.name, len(c), func() { p.fn(b, c) }) })
	}
}

// BenchmarkNDJSON compares s3ingest's NDJSON reader (typed columns) with
// encoding/json decoding into map[string]any.
func BenchmarkNDJSON(b *testing.B) {
	_, j := data()
	for _, p := range []struct {
		name string
		fn   func(*testing.B, []byte)
	}{{ours, s3ingestRead}, {"encoding/json map[string]any", encodingJSONRead}} {
		b.Run(p.name, func(b *testing.B) { measure(b, "NDJSON parse", p.name, len(j), func() { p.fn(b, j) }) })
	}
}

// TestPeersAgree checks that s3ingest and the peers read the same values,
// so the benchmark compares like with like.
func TestPeersAgree(t *testing.T) {
	c, _ := data()
	c = c[:bytes.IndexByte(c[4096:], '\n')+4097]
	r, err := parsers.Open(context.Background(), parsers.BytesObject("t.csv", c), parsers.Options{Schema: typed})
	if err != nil {
		t.Fatal(err)
	}
	ours := schema.NewBatch(typed, 1<<16)
	if err := r.Next(context.Background(), ours); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(c))
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if ours.Len() != len(recs)-1 {
		t.Fatalf("%d rows, encoding/csv %d", ours.Len(), len(recs)-1)
	}
	for i := 0; i < ours.Len(); i++ {
		for j := range typed.Fields {
			got := ours.Cols[j].Text(i)
			want := recs[i+1][j]
			switch typed.Fields[j].Type {
			case schema.Timestamp:
				tm, _ := time.Parse(time.RFC3339Nano, want)
				want = schema.FormatTimestamp(tm.UnixMicro())
			case schema.Float64:
				f, _ := strconv.ParseFloat(want, 64)
				want = strconv.FormatFloat(f, 'g', -1, 64)
			}
			if got != want {
				t.Fatalf("row %d col %s: %q, want %q", i, typed.Fields[j].Name, got, want)
			}
		}
	}
}
