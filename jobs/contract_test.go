package jobs

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

func TestParseColumnSpecs(t *testing.T) {
	tests := []struct {
		in      string
		want    []ColumnSpec
		wantErr string
	}{
		{in: "", want: nil},
		{in: "id:int64!, amount:float64,email:STRING", want: []ColumnSpec{
			{Name: "id", Type: schema.Int64, NotNull: true}, {Name: "amount", Type: schema.Float64}, {Name: "email", Type: schema.String}}},
		{in: "amount", wantErr: `entry 1 "amount": want name:type`},
		{in: "amount:money", wantErr: `unknown column type "money"`},
		{in: "a:int64,a:string", wantErr: `column "a" appears twice`},
		{in: ":int64", wantErr: "want name:type"},
	}
	for _, tt := range tests {
		got, err := ParseColumnSpecs("schema", tt.in)
		if tt.wantErr != "" {
			var pe *PayloadError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &pe) || pe.Field != "schema" {
				t.Errorf("ParseColumnSpecs(%q) = %v, want a schema error containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ParseColumnSpecs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseColumnSpecs(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
	// String round-trips.
	specs, _ := ParseColumnSpecs("schema", "id:int64!,amount:float64")
	if s := specs[0].String() + "," + specs[1].String(); s != "id:int64!,amount:float64" {
		t.Errorf("String() = %q", s)
	}
}

func TestIngestPayloadBoundsAndContract(t *testing.T) {
	long := strings.Repeat("k", MaxFieldBytes+1)
	base := func() IngestPayload {
		return IngestPayload{WorkspaceID: "ws", Dataset: "orders", Source: Source{Bucket: "bucket", Prefix: "in/"}}
	}
	tests := []struct {
		name  string
		edit  func(*IngestPayload)
		field string
	}{
		{"ok", func(*IngestPayload) {}, ""},
		{"long prefix", func(p *IngestPayload) { p.Source.Prefix = long }, "source.prefix"},
		{"long glob", func(p *IngestPayload) { p.Source.Glob = long }, "source.glob"},
		{"long key", func(p *IngestPayload) { p.Source.Prefix = ""; p.Source.Keys = []string{long} }, "source.keys[0]"},
		{"long version", func(p *IngestPayload) { p.Source.Prefix = ""; p.Source.Keys = []string{"k"}; p.Source.VersionID = long }, "source.version_id"},
		{"bad evolution", func(p *IngestPayload) { p.Contract.Evolution = "merge" }, "evolution"},
		{"bad modified", func(p *IngestPayload) { p.Contract.Modified = "overwrite" }, "modified"},
		{"bad codec", func(p *IngestPayload) { p.Contract.Compression = "lzo" }, "compression"},
		{"codec", func(p *IngestPayload) { p.Contract.Compression = CodecLZ4Raw }, ""},
		{"schema and hints", func(p *IngestPayload) {
			p.Contract.Schema = []ColumnSpec{{Name: "a"}}
			p.Contract.SchemaHints = []ColumnSpec{{Name: "b"}}
		}, "schema_hints"},
		{"long column name", func(p *IngestPayload) { p.Contract.SchemaHints = []ColumnSpec{{Name: long}} }, "schema_hints"},
		{"max columns over the limit", func(p *IngestPayload) { p.Parse.MaxColumns = parsers.MaxMaxColumns + 1 }, "parse.max_columns"},
		{"rescue", func(p *IngestPayload) { p.Contract.Evolution = EvolutionRescue; p.Contract.Modified = ModifiedSkip }, ""},
	}
	for _, tt := range tests {
		p := base()
		tt.edit(&p)
		err := p.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var pe *PayloadError
		if !errors.As(err, &pe) || pe.Field != tt.field || !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("%s: Validate() = %v, want a PayloadError of field %s", tt.name, err, tt.field)
		}
	}
}
