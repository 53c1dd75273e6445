package parsers

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// TestJSONStringsAlike checks that a string written as JSON comes out the
// same from the text formats (a JSON string read into a json column) and
// from Parquet (a string inside a nested field): one escaping, shared by
// every reader.
func TestJSONStringsAlike(t *testing.T) {
	const value = "tab\there\nnl\r \"q\" \\ \x01 \x1f é </"
	const want = `"tab\there\nnl\r \"q\" \\ \u0001 \u001f é </"`

	// JSON: {"j": value} with j typed json
	doc, err := json.Marshal(map[string]string{"j": value})
	if err != nil {
		t.Fatal(err)
	}
	sch := &schema.Schema{Fields: []schema.Field{{Name: "j", Type: schema.JSON}}}
	_, rows := readRows(t, "t.json", append(doc, '\n'), Options{Schema: sch})
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	fromJSON := string(rows[0][0].(json.RawMessage))

	// Parquet: a list of one string
	type row struct {
		L []string `parquet:"l,list"`
	}
	r := pqOpenBytes(t, pqWriteFile(t, []row{{L: []string{value}}}), Options{})
	defer r.Close()
	prows, _, err := pqReadAll(context.Background(), r, 10)
	if err != nil || len(prows) != 1 {
		t.Fatalf("%d rows, %v", len(prows), err)
	}
	fromParquet := string(prows[0][0].(json.RawMessage))

	if fromJSON != want || fromParquet != "["+want+"]" {
		t.Fatalf("JSON gives %s, Parquet %s; want %s", fromJSON, fromParquet, want)
	}
}
