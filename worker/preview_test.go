package worker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

func TestPreviewReturnsSchemaAndFirstRows(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "in/empty.csv", nil) // empty objects are listed but not sampled
	h.s3.Put(t, bucket, "in/orders.csv.gz", gz(ordersCSV(1, 500, nil)))
	h.s3.Put(t, bucket, "in/zz.csv", ordersCSV(501, 10, nil))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	task, err := jobs.NewPreviewTask(jobs.PreviewPayload{WorkspaceID: "ws-a", CredentialID: cred,
		Source: jobs.Source{Bucket: bucket, Prefix: "in/"}, Rows: 3})
	if err != nil {
		t.Fatal(err)
	}
	var res jobs.PreviewResult
	info, err := h.run(task, &res)
	if err != nil {
		t.Fatalf("preview: %v (%s)", err, info.LastErr)
	}
	if res.Listing.Objects != 3 || len(res.Listing.FirstKeys) != 3 || res.Listing.FirstKeys[0] != "in/empty.csv" {
		t.Fatalf("listing = %+v", res.Listing)
	}
	if res.Object != "s3://"+bucket+"/in/orders.csv.gz" {
		t.Fatalf("sampled %s, want the first non-empty object", res.Object)
	}
	if res.Format != parsers.FormatCSV || res.Compression != parsers.CompressionGzip || !res.Header || res.Delimiter != "," {
		t.Fatalf("sniffed %+v", res.Info)
	}
	want := []struct {
		name string
		typ  schema.Type
	}{{"id", schema.Int64}, {"name", schema.String}, {"amount", schema.Float64}, {"day", schema.Date}, {"paid", schema.Bool}}
	if len(res.Schema.Fields) != len(want) {
		t.Fatalf("schema = %s", res.Schema)
	}
	for i, w := range want {
		f := res.Schema.Fields[i]
		if f.Name != w.name || f.Type != w.typ || f.Reason == "" || !strings.HasPrefix(f.Reason, w.typ.String()) {
			t.Fatalf("field %d = %+v, want %s %s with a reason", i, f, w.name, w.typ)
		}
	}
	if len(res.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(res.Rows))
	}
	if got := fmt.Sprint(res.Rows[1]); got != "[2 name 2 2.5 2024-03-03 true]" {
		t.Fatalf("row 2 = %s", got)
	}
}

func TestPreviewFailures(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
	tests := []struct {
		name   string
		source jobs.Source
		want   string
	}{
		{"nothing matches", jobs.Source{Bucket: bucket, Prefix: "nope/"}, "no non-empty object matches"},
		{"missing bucket", jobs.Source{Bucket: "no-such-bucket-s3ingest"}, "no-such-bucket-s3ingest"},
		{"missing key", jobs.Source{Bucket: bucket, Keys: []string{"missing.csv"}}, "missing.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := jobs.NewPreviewTask(jobs.PreviewPayload{WorkspaceID: "ws-a", CredentialID: cred, Source: tt.source})
			if err != nil {
				t.Fatal(err)
			}
			info, err := h.run(task, nil)
			if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
				t.Fatalf("state %s retried %d err %v: want archived at once", info.State, info.Retried, err)
			}
			if !strings.Contains(info.LastErr, tt.want) {
				t.Fatalf("last error %q lacks %q", info.LastErr, tt.want)
			}
		})
	}
}
