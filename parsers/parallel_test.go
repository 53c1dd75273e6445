package parsers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/parserstest"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// readOut is everything a reader hands its consumer.
type readOut struct {
	openErr  string
	schema   string
	rows     [][]any
	lines    []int64
	rejects  []string // line, byte, column and message of each OnReject call
	warnings []string
	err      string // the error that ended the read ("" for io.EOF)
}

// readWith reads obj with open and records what the consumer sees.
func readWith(t *testing.T, open func(context.Context, parsers.Object, parsers.Options) (parsers.Reader, error),
	obj parsers.Object, opts parsers.Options, stats *[3]int) readOut {
	t.Helper()
	var out readOut
	opts.OnReject = func(pe *parsers.ParseError) error {
		out.rejects = append(out.rejects, fmt.Sprintf("line %d byte %d column %q: %v", pe.Line, pe.Byte, pe.Column, pe))
		return nil
	}
	opts.OnWarning = func(msg string) { out.warnings = append(out.warnings, msg) }
	ctx := context.Background()
	r, err := open(ctx, obj, opts)
	if err != nil {
		out.openErr = err.Error()
		return out
	}
	defer r.Close()
	out.schema = r.Schema().String()
	b := schema.NewBatch(r.Schema(), 4)
	for {
		err := r.Next(ctx, b)
		for i := 0; i < b.Len(); i++ {
			out.rows = append(out.rows, b.Row(i))
		}
		out.lines = append(out.lines, b.Lines...)
		if err == io.EOF {
			break
		}
		if err != nil {
			out.err = err.Error()
			break
		}
	}
	if stats != nil {
		stats[0], stats[1], stats[2] = parsers.PipelineStats(r)
	}
	return out
}

// sameOut fails t when the parallel read differs from the sequential one.
func sameOut(t *testing.T, what string, seq, par readOut) {
	t.Helper()
	if reflect.DeepEqual(seq, par) {
		return
	}
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: %s differ:\nsequential: %v\nparallel:   %v", what, name, a, b)
		}
	}
	diff("open errors", seq.openErr, par.openErr)
	diff("schemas", seq.schema, par.schema)
	for i := range min(len(seq.rows), len(par.rows)) {
		diff(fmt.Sprintf("row %d (line %d)", i, seq.lines[i]), seq.rows[i], par.rows[i])
		diff(fmt.Sprintf("line of row %d", i), seq.lines[i], par.lines[i])
	}
	for i := range min(len(seq.rejects), len(par.rejects)) {
		diff(fmt.Sprintf("reject %d", i), seq.rejects[i], par.rejects[i])
	}
	diff("row counts", len(seq.rows), len(par.rows))
	diff("reject counts", len(seq.rejects), len(par.rejects))
	diff("warnings", seq.warnings, par.warnings)
	diff("final errors", seq.err, par.err)
}

// compareParallel reads data with one parser and in parallel with several
// chunk sizes, plain and gzip-compressed, and checks that both hand over
// the same; it returns the chunks cut and the fallbacks to one parser,
// summed over the runs.
func compareParallel(t *testing.T, name string, data []byte, opts parsers.Options, chunkSizes []int) (chunks, fallbacks int) {
	t.Helper()
	objs := []parsers.Object{parsers.BytesObject(name, data), parserstest.Micro(parsers.BytesObject(name, data), 3)}
	if len(data) > 0 {
		objs = append(objs, parsers.BytesObject(name+".gz", parserstest.Gzip(t, data)))
	}
	for k, obj := range objs {
		seq := readWith(t, parsers.OpenSequential, obj, opts, nil)
		for _, cs := range chunkSizes {
			po := opts
			po.Parallelism, po.ChunkBytes = 3, cs
			var st [3]int
			par := readWith(t, parsers.Open, obj, po, &st)
			sameOut(t, fmt.Sprintf("%s (object %d, chunk %d bytes)", name, k, cs), seq, par)
			chunks += st[1]
			fallbacks += st[2]
		}
	}
	return chunks, fallbacks
}

// TestParallelConformance reads every CSV and JSON case of the conformance
// suite with one parser and in parallel over tiny chunks (the sample holds
// one row, so that the rest is cut into chunks), with the schema inferred
// and with the schema passed.
func TestParallelConformance(t *testing.T) {
	chunks := 0
	for _, c := range append(append([]parserstest.Case{}, csvCases...), jsonCases...) {
		t.Run(c.Name, func(t *testing.T) {
			data := c.Data(t)
			opts := c.Opts
			opts.SampleRows = 1
			n, _ := compareParallel(t, c.Object, data, opts, []int{1, 2, 3, 5, 8, 13, 64})
			chunks += n
			if r, err := parsers.Open(context.Background(), parsers.BytesObject(c.Object, data), c.Opts); err == nil {
				opts.Schema = r.Schema()
				r.Close()
				n, _ := compareParallel(t, c.Object, data, opts, []int{1, 7, 64})
				chunks += n
			}
		})
	}
	if chunks == 0 {
		t.Fatal("no case was cut into chunks")
	}
}

// genCSV writes rows that exercise every way a record can end: quoted
// newlines (LF and CRLF), escaped quotes, quotes inside unquoted fields and
// after a closing quote (lenient), blank lines, CRLF records, ragged rows,
// values that do not convert, and records longer than a chunk.
func genCSV(rng *rand.Rand, rows int) []byte {
	var b bytes.Buffer
	b.WriteString("id,name,amount,note\n")
	for i := 0; i < rows; i++ {
		nl := "\n"
		if rng.Intn(4) == 0 {
			nl = "\r\n"
		}
		name := []string{`plain`, `"quoted, comma"`, `"say ""hi"""`, "\"multi\nline\"", "\"crlf\r\ninside\"",
			`in"side`, `"closed"tail`, `"closed"" then""x"`, `""`, `"`}[rng.Intn(9)]
		amount := fmt.Sprint(rng.Intn(1000))
		switch rng.Intn(12) {
		case 0:
			amount = "x1"
		case 1:
			amount = ""
		}
		note := "n" + fmt.Sprint(i)
		if rng.Intn(25) == 0 {
			note = `"` + strings.Repeat("long \"\" text\n", 20+rng.Intn(40)) + `"`
		}
		switch rng.Intn(30) {
		case 0:
			fmt.Fprintf(&b, "%d,%s%s", i, name, nl) // ragged
		case 1:
			b.WriteString(nl) // blank line
			fallthrough
		default:
			fmt.Fprintf(&b, "%d,%s,%s,%s%s", i, name, amount, note, nl)
		}
	}
	return b.Bytes()
}

// TestParallelCSVGenerated compares the parallel and sequential reads of
// generated CSV over chunk sizes that make records straddle chunk
// boundaries, with rejects, a ragged policy, an unclosed quote at the end
// and a last record without a newline.
func TestParallelCSVGenerated(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	sch := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64, Nullable: true},
		{Name: "name", Type: schema.String, Nullable: true}, {Name: "amount", Type: schema.Int64},
		{Name: "note", Type: schema.String, Nullable: true}}}
	sizes := []int{16, 61, 100, 257, 4096}
	chunks, fallbacks := 0, 0
	for k := 0; k < 6; k++ {
		data := genCSV(rng, 400)
		switch k {
		case 3:
			data = append(data, "9999,\"never closed,1,x\n1,2,3,4\n"...)
		case 4:
			data = bytes.TrimRight(data, "\r\n")
		}
		for _, opts := range []parsers.Options{
			{SampleRows: 5},
			{SampleRows: 5, Schema: sch},
			{SampleRows: 5, CSV: parsers.CSVOptions{Ragged: parsers.RaggedPad}},
			{SampleRows: 5, Schema: sch, RescueColumn: "", MaxLineBytes: 200},
		} {
			c, f := compareParallel(t, fmt.Sprintf("gen%d.csv", k), data, opts, sizes)
			chunks, fallbacks = chunks+c, fallbacks+f
		}
	}
	if chunks == 0 || fallbacks == 0 {
		t.Fatalf("%d chunks, %d fallbacks to one parser: both paths must be taken", chunks, fallbacks)
	}
}

// TestParallelNDJSONGenerated does the same for NDJSON: invalid lines, keys
// outside the sampled columns (warned once each, in order), blank and CRLF
// lines, and lines longer than a chunk.
func TestParallelNDJSONGenerated(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	chunks, fallbacks := 0, 0
	for k := 0; k < 4; k++ {
		var b bytes.Buffer
		for i := 0; i < 500; i++ {
			switch rng.Intn(20) {
			case 0:
				b.WriteString("{\"id\": oops}\n")
			case 1:
				b.WriteString("\r\n")
			case 2:
				fmt.Fprintf(&b, "{\"id\":%d,\"extra%d\":1}\n", i, rng.Intn(30))
			case 3:
				fmt.Fprintf(&b, "{\"id\":%d,\"s\":%q}\n", i, strings.Repeat("long\n", 50))
			case 4:
				fmt.Fprintf(&b, "{\"id\":\"not a number\",\"s\":\"x\"}\r\n")
			default:
				fmt.Fprintf(&b, "{\"id\":%d,\"s\":\"v%d \\\"q\\\"\",\"n\":{\"a\":%d}}\n", i, i, i)
			}
		}
		data := b.Bytes()
		if k == 1 {
			data = bytes.TrimRight(data, "\r\n")
		}
		if k == 2 {
			data = append(data, "{\"id\":1,\"s\":\"unterminated\n"...)
		}
		for _, opts := range []parsers.Options{{SampleRows: 3}, {SampleRows: 3, MaxLineBytes: 150}} {
			c, f := compareParallel(t, fmt.Sprintf("gen%d.ndjson", k), data, opts, []int{16, 90, 333, 4096})
			chunks, fallbacks = chunks+c, fallbacks+f
		}
	}
	if chunks == 0 || fallbacks == 0 {
		t.Fatalf("%d chunks, %d fallbacks to one parser: both paths must be taken", chunks, fallbacks)
	}
}

// TestParallelErrorBudget checks that an OnReject that fails at its n-th
// call sees the same rejects, in the same order, and ends the read with
// its error, in parallel as with one parser.
func TestParallelErrorBudget(t *testing.T) {
	data := genCSV(rand.New(rand.NewSource(3)), 2000)
	errBudget := errors.New("budget exceeded")
	for _, n := range []int{1, 5, 40} {
		run := func(open func(context.Context, parsers.Object, parsers.Options) (parsers.Reader, error), opts parsers.Options) ([]int64, error) {
			var lines []int64
			opts.SampleRows = 5
			opts.OnReject = func(pe *parsers.ParseError) error {
				lines = append(lines, pe.Line)
				if len(lines) == n {
					return errBudget
				}
				return nil
			}
			r, err := open(context.Background(), parsers.BytesObject("b.csv", data), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			b := schema.NewBatch(r.Schema(), 64)
			for {
				if err := r.Next(context.Background(), b); err != nil {
					return lines, err
				}
			}
		}
		seqLines, seqErr := run(parsers.OpenSequential, parsers.Options{})
		parLines, parErr := run(parsers.Open, parsers.Options{Parallelism: 3, ChunkBytes: 256})
		if !errors.Is(seqErr, errBudget) || !errors.Is(parErr, errBudget) {
			t.Fatalf("budget %d: errors %v and %v, want the budget's", n, seqErr, parErr)
		}
		if !reflect.DeepEqual(seqLines, parLines) {
			t.Fatalf("budget %d: OnReject lines %v in parallel, %v with one parser", n, parLines, seqLines)
		}
	}
}

// TestParallelHugeRecords reads records far longer than a chunk (one
// parser takes over) and batches whose text passes their cap (handed over
// without read-ahead) in parallel and with one parser alike.
func TestParallelHugeRecords(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("id,text\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "%d,small\n", i)
	}
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "%d,\"%s\"\n", i, strings.Repeat("x\"\"", 1200<<10))
	}
	for _, par := range []int{1, 3} {
		obj := parsers.BytesObject("huge.csv", b.Bytes())
		opts := parsers.Options{SampleRows: 10}
		seq := readWith(t, parsers.OpenSequential, obj, opts, nil)
		opts.Parallelism, opts.ChunkBytes = par, 64<<10
		var st [3]int
		got := readWith(t, parsers.Open, obj, opts, &st)
		sameOut(t, fmt.Sprintf("parallelism %d", par), seq, got)
		if par > 1 && (st[1] == 0 || st[2] != 1) {
			t.Fatalf("%d chunks and %d fallbacks, want some chunks and one fallback", st[1], st[2])
		}
	}
}

// TestParallelChunkTarget reads with chunks filled to about one batch
// (less than ChunkBytes: small batches of the sample's rows), in parallel
// and with one parser alike.
func TestParallelChunkTarget(t *testing.T) {
	data := genCSV(rand.New(rand.NewSource(4)), 8000)
	if len(data) < 4*64<<10 {
		t.Fatalf("%d bytes: too few for several 64 KiB chunks", len(data))
	}
	chunks, _ := compareParallel(t, "target.csv", data, parsers.Options{SampleRows: 50, BatchRows: 20}, []int{1 << 20})
	if chunks < 3*4 { // 3 objects × at least 4 chunks of 64 KiB
		t.Fatalf("%d chunks: the chunks were not filled to the target", chunks)
	}
}
