package gen

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestWrite checks that the files are deterministic, parse as CSV and JSON
// with the same rows, and that Truth counts what they hold.
func TestWrite(t *testing.T) {
	const rows = 3000
	a, err := Write(t.TempDir(), rows, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Write(t.TempDir(), rows, 7)
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for k := range a.Paths {
		if !bytes.Equal(read(a.Paths[k]), read(b.Paths[k])) {
			t.Errorf("%s differs between two runs with the same seed", k)
		}
	}
	if a.Truth != b.Truth {
		t.Errorf("truth differs: %+v vs %+v", a.Truth, b.Truth)
	}

	recs, err := csv.NewReader(bytes.NewReader(read(a.Paths["csv"]))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(read(a.Paths["csv.gz"])))
	if err != nil {
		t.Fatal(err)
	}
	var unz bytes.Buffer
	if _, err := unz.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unz.Bytes(), read(a.Paths["csv"])) {
		t.Error("csv.gz does not hold the CSV's bytes")
	}
	var arr []map[string]any
	if err := json.Unmarshal(read(a.Paths["json"]), &arr); err != nil {
		t.Fatal(err)
	}
	var nd []map[string]any
	dec := json.NewDecoder(bytes.NewReader(read(a.Paths["ndjson"])))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		nd = append(nd, m)
	}
	if len(recs) != rows+1 || len(arr) != rows || len(nd) != rows {
		t.Fatalf("rows: csv %d (+header), json array %d, ndjson %d; want %d", len(recs)-1, len(arr), len(nd), rows)
	}
	var got Truth
	for i, rec := range recs[1:] {
		if len(rec) != len(Columns) {
			t.Fatalf("csv row %d has %d fields", i, len(rec))
		}
		got.Rows++
		if rec[1] != "" {
			got.UserIDs++
		}
		if rec[3] != "" {
			got.Ratios++
		}
		if rec[11] != "" {
			got.Countries++
		}
		if rec[10] == "true" {
			got.FlagsTrue++
		}
		if want := `said "hi", then left #`; len(rec[9]) <= len(want) || rec[9][:len(want)] != want {
			t.Fatalf("csv row %d comment %q", i, rec[9])
		}
		if arr[i]["comment"] != rec[9] || nd[i]["comment"] != rec[9] {
			t.Fatalf("row %d: comments differ between CSV and JSON", i)
		}
		if (arr[i]["country"] == nil) != (rec[11] == "") || (nd[i]["user_id"] == nil) != (rec[1] == "") {
			t.Fatalf("row %d: nulls differ between CSV and JSON", i)
		}
	}
	if got.Rows != a.Truth.Rows || got.UserIDs != a.Truth.UserIDs || got.Ratios != a.Truth.Ratios ||
		got.Countries != a.Truth.Countries || got.FlagsTrue != a.Truth.FlagsTrue {
		t.Errorf("counted %+v, truth %+v", got, a.Truth)
	}
	if a.Truth.UserIDs == rows || a.Truth.Ratios == rows || a.Truth.Countries == rows {
		t.Errorf("no nulls generated: %+v", a.Truth)
	}
}
