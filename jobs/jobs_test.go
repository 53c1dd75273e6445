package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/parsers"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func validIngest() IngestPayload {
	return IngestPayload{
		WorkspaceID: "ws-1",
		Source:      Source{Bucket: "customer-data", Prefix: "exports/"},
		Dataset:     "orders",
	}
}

func TestIngestPayloadValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*IngestPayload)
		field  string // "" = valid
	}{
		{"valid", func(*IngestPayload) {}, ""},
		{"glob and prefix", func(p *IngestPayload) { p.Source.Glob = "**/*.csv" }, ""},
		{"explicit keys", func(p *IngestPayload) { p.Source.Prefix = ""; p.Source.Keys = []string{"a.csv"} }, ""},
		{"pinned version", func(p *IngestPayload) {
			p.Source.Prefix = ""
			p.Source.Keys = []string{"a.csv"}
			p.Source.VersionID = "v1"
		}, ""},
		{"no workspace", func(p *IngestPayload) { p.WorkspaceID = "" }, "workspace_id"},
		{"workspace with slash", func(p *IngestPayload) { p.WorkspaceID = "a/b" }, "workspace_id"},
		{"bad credential id", func(p *IngestPayload) { p.CredentialID = "x y" }, "credential_id"},
		{"no bucket", func(p *IngestPayload) { p.Source.Bucket = "" }, "source.bucket"},
		{"uppercase bucket", func(p *IngestPayload) { p.Source.Bucket = "Customer" }, "source.bucket"},
		{"keys with prefix", func(p *IngestPayload) { p.Source.Keys = []string{"a"} }, "source.keys"},
		{"empty key", func(p *IngestPayload) { p.Source.Prefix = ""; p.Source.Keys = []string{""} }, "source.keys[0]"},
		{"version without key", func(p *IngestPayload) { p.Source.VersionID = "v1" }, "source.version_id"},
		{"bad glob", func(p *IngestPayload) { p.Source.Glob = "[" }, "source.glob"},
		{"no dataset", func(p *IngestPayload) { p.Dataset = "" }, "dataset"},
		{"dataset traversal", func(p *IngestPayload) { p.Dataset = "../etc" }, "dataset"},
		{"dataset dotdot", func(p *IngestPayload) { p.Dataset = "a..b" }, "dataset"},
		{"concurrency too high", func(p *IngestPayload) { p.Concurrency = 65 }, "concurrency"},
		{"negative budget", func(p *IngestPayload) { p.ErrorBudget.ObjectMaxRows = -1 }, "error_budget.object_max_rows"},
		{"fraction above one", func(p *IngestPayload) { p.ErrorBudget.JobMaxFraction = 1.5 }, "error_budget.job_max_fraction"},
		{"unknown format", func(p *IngestPayload) { p.Parse.Format = "xml" }, "parse.format"},
		{"unknown compression", func(p *IngestPayload) { p.Parse.Compression = "lz4" }, "parse.compression"},
		{"credential id credstore would refuse", func(p *IngestPayload) { p.CredentialID = "a.b:c" }, "credential_id"},
		{"workspace id credstore accepts", func(p *IngestPayload) { p.WorkspaceID = "team@acme.io" }, ""},
		{"huge batch", func(p *IngestPayload) { p.Parse.BatchRows = 2_000_000_000 }, "parse.batch_rows"},
		{"huge sample", func(p *IngestPayload) { p.Parse.SampleBytes = 1 << 40 }, "parse.sample_bytes"},
		{"huge lines", func(p *IngestPayload) { p.Parse.MaxLineBytes = 1 << 40 }, "parse.max_line_bytes"},
		{"too many keys", func(p *IngestPayload) { p.Source.Prefix = ""; p.Source.Keys = make([]string, MaxKeys+1) }, "source.keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validIngest()
			tt.mutate(&p)
			err := p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *PayloadError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *PayloadError for %s", err, tt.field)
			}
			if !errors.Is(err, ErrInvalidPayload) || !fe.Permanent() {
				t.Fatalf("Validate() = %v: want it to match ErrInvalidPayload and be permanent", err)
			}
			if fe.Field != tt.field {
				t.Fatalf("error names field %q (%v), want %q", fe.Field, err, tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("message %q does not start with the field name", err)
			}
		})
	}
}

func TestNewIngestTaskDefaultsAndOverrides(t *testing.T) {
	task, err := NewIngestTask(validIngest())
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != TypeIngest {
		t.Fatalf("type = %q", task.Type())
	}
	var back IngestPayload
	if err := Decode(task.Payload(), &back); err != nil {
		t.Fatalf("payload does not round-trip: %v", err)
	}
	if back.Dataset != "orders" || back.Source.Bucket != "customer-data" {
		t.Fatalf("round trip lost fields: %+v", back)
	}

}

// TestTaskOptionsOnRealRedis enqueues through Client into a real Redis and
// reads back the options asynq stored.
func TestTaskOptionsOnRealRedis(t *testing.T) {
	rdb := testenv.Redis(t).Client(t)
	c := NewClient(rdb)
	ctx := context.Background()

	info, err := c.EnqueueIngest(ctx, validIngest())
	if err != nil {
		t.Fatal(err)
	}
	if info.Queue != QueueIngest || info.MaxRetry != IngestMaxRetry || info.Timeout != IngestTimeout || info.Retention != IngestRetention {
		t.Fatalf("ingest defaults: queue %s retry %d timeout %s retention %s", info.Queue, info.MaxRetry, info.Timeout, info.Retention)
	}

	p := validIngest()
	p.ScheduleID = "nightly"
	info, err = c.EnqueueIngest(ctx, p, asynq.MaxRetry(1))
	if err != nil {
		t.Fatal(err)
	}
	if info.Queue != QueueScheduled || info.MaxRetry != 1 {
		t.Fatalf("scheduled ingest: queue %s retry %d, want scheduled and the caller's 1", info.Queue, info.MaxRetry)
	}

	info, err = c.EnqueuePreview(ctx, PreviewPayload{WorkspaceID: "w", Source: Source{Bucket: "bkt"}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Queue != QueueInteractive || info.Retention != PreviewRetention || info.Timeout != PreviewTimeout {
		t.Fatalf("preview defaults: %+v", info)
	}
	got, err := c.Task(info.Queue, info.ID)
	if err != nil || got.Type != TypePreview {
		t.Fatalf("Task() = %+v, %v", got, err)
	}

	// Wait gives up with the context and reports the state.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(wctx, info.Queue, info.ID, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("Wait on a task nobody runs = %v, want deadline exceeded naming state pending", err)
	}
}

func TestSchedulesStore(t *testing.T) {
	rdb := testenv.Redis(t).Client(t)
	s := NewSchedules(rdb)
	ctx := context.Background()
	if err := s.Put(ctx, Schedule{ID: "nightly", Cron: "0 3 * * *", Ingest: validIngest()}); err != nil {
		t.Fatal(err)
	}
	other := validIngest()
	other.WorkspaceID = "ws-2"
	if err := s.Put(ctx, Schedule{ID: "hourly", Cron: "@hourly", Ingest: other}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, Schedule{ID: "broken", Cron: "nope", Ingest: validIngest()}); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("invalid cron stored: %v", err)
	}
	list, err := s.List(ctx, "ws-1")
	if err != nil || len(list) != 1 || list[0].ID != "nightly" || list[0].Ingest.ScheduleID != "nightly" {
		t.Fatalf("List(ws-1) = %+v, %v", list, err)
	}
	cfgs, err := s.GetConfigs()
	if err != nil || len(cfgs) != 2 {
		t.Fatalf("GetConfigs = %d configs, %v", len(cfgs), err)
	}
	for _, c := range cfgs {
		var p IngestPayload
		if err := Decode(c.Task.Payload(), &p); err != nil || p.ScheduleID == "" {
			t.Fatalf("scheduled payload %s: %v", c.Task.Payload(), err)
		}
	}
	// Runs of one schedule never overlap: while a run is pending the next
	// tick's enqueue is refused as a duplicate.
	c := NewClient(rdb)
	if _, err := c.Enqueue(ctx, cfgs[0].Task, cfgs[0].Opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, cfgs[0].Task, cfgs[0].Opts...); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("second run while the first is pending: %v, want asynq.ErrDuplicateTask", err)
	}
	if err := s.Remove(ctx, "ws-2", "nightly"); !errors.Is(err, ErrScheduleNotFound) {
		t.Fatalf("removing another workspace's schedule = %v, want not found", err)
	}
	if err := s.Remove(ctx, "ws-1", "nightly"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx, ""); len(list) != 1 {
		t.Fatalf("after remove: %+v", list)
	}
}

func TestNewTaskRejectsInvalidPayload(t *testing.T) {
	p := validIngest()
	p.Dataset = ""
	if _, err := NewIngestTask(p); !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), "dataset") {
		t.Fatalf("NewIngestTask(invalid) = %v, want ErrInvalidPayload naming dataset", err)
	}
	if _, err := NewPreviewTask(PreviewPayload{WorkspaceID: "w", Source: Source{Bucket: "b"}, Rows: -1}); err == nil {
		t.Fatal("negative preview rows accepted")
	}
	if _, err := NewVerifyTask(VerifyPayload{WorkspaceID: "w"}); err == nil || !strings.Contains(err.Error(), "source.bucket") {
		t.Fatalf("verify without bucket = %v", err)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, c := range []struct{ in, field string }{
		{`{`, ""},
		{`{"workspace_id":"w"}`, "dataset"},
		{`[]`, ""},
		{`{"workspace_id":"w","source":{"bucket":7}}`, "source.bucket"},
		{`{"workspace_id":"w","source":{"bucket":"b"},"dataset":"d","concurrency":"4"}`, "concurrency"},
	} {
		var p IngestPayload
		err := Decode([]byte(c.in), &p)
		if !errors.Is(err, ErrInvalidPayload) || !strings.HasPrefix(err.Error(), "invalid payload: "+c.field) {
			t.Errorf("Decode(%s) = %v, want ErrInvalidPayload naming %q", c.in, err, c.field)
			continue
		}
		// The worker's one check: the outermost classified error says
		// whether a retry can help.
		var cl interface{ Permanent() bool }
		if !errors.As(err, &cl) || !cl.Permanent() {
			t.Errorf("Decode(%s) = %v: not classified permanent", c.in, err)
		}
		var pe *PayloadError
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("Decode(%s) = %v: want a *PayloadError for field %q", c.in, err, c.field)
		}
	}
}

func TestPayloadCarriesNoSecretsAndKeepsHints(t *testing.T) {
	p := validIngest()
	p.Parse = parsers.Options{Format: parsers.FormatCSV, CSV: parsers.CSVOptions{Delimiter: ';'}}
	p.Parse.OnReject = func(*parsers.ParseError) error { return nil }
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	parse := m["parse"].(map[string]any)
	if parse["format"] != "csv" {
		t.Fatalf("format hint lost: %s", b)
	}
	for _, k := range []string{"secret", "access_key", "session_token"} {
		if strings.Contains(strings.ToLower(string(b)), k) {
			t.Fatalf("payload mentions %q: %s", k, b)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	b, _ := json.Marshal(Duration(1500 * time.Millisecond))
	if string(b) != `"1.5s"` {
		t.Fatalf("marshal = %s", b)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"2m"`), &d); err != nil || time.Duration(d) != 2*time.Minute {
		t.Fatalf("unmarshal string = %v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`5`), &d); err != nil || d != 5 {
		t.Fatalf("unmarshal number = %v, %v", d, err)
	}
}

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		cron, id, field string
	}{
		{"*/15 * * * *", "nightly", ""},
		{"@hourly", "h", ""},
		{"@every 30m", "e", ""},
		{"61 * * * *", "bad", "cron"},
		{"* * * *", "short", "cron"},
		{"@daily", "has space", "id"},
	}
	for _, tt := range tests {
		sc := Schedule{ID: tt.id, Cron: tt.cron, Ingest: validIngest()}
		err := sc.Validate()
		var fe *PayloadError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s %q: %v", tt.id, tt.cron, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("%s %q: err %v, want field %s", tt.id, tt.cron, err, tt.field)
		}
	}
}

// TestPayloadCannotRaiseObjectResources: how many goroutines and chunk
// bytes one object takes is the process's to decide (it bounds memory by
// parsers.ObjectMemoryBudget); a payload naming them changes nothing.
func TestPayloadCannotRaiseObjectResources(t *testing.T) {
	in := `{"workspace_id":"w","source":{"bucket":"bucket-b"},"dataset":"d",` +
		`"parse":{"parallelism":64,"chunk_bytes":16777216,"Parallelism":64,"ChunkBytes":16777216}}`
	var p IngestPayload
	if err := Decode([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.Parse.Parallelism != 0 || p.Parse.ChunkBytes != 0 {
		t.Fatalf("payload set Parallelism %d, ChunkBytes %d; want the process's defaults (0)", p.Parse.Parallelism, p.Parse.ChunkBytes)
	}
}
