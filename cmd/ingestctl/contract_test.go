package main

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// TestContractFlagsReachThePayload enqueues ingests and stores schedules on
// a real Redis and reads back the contract their payloads carry.
func TestContractFlagsReachThePayload(t *testing.T) {
	rs := testenv.Redis(t)
	c := &cli{t: t, url: rs.URL()}
	insp := asynq.NewInspectorFromRedisClient(rs.Client(t))
	base := []string{"--workspace", "ws1", "--bucket", "data", "--prefix", "in/", "--dataset", "orders"}
	for _, tc := range []struct {
		name string
		args []string
		want jobs.Contract
	}{
		{"none", nil, jobs.Contract{}},
		{"pinned schema and policies",
			[]string{"--schema", "id:int64!, amount:float64,email:string", "--evolution", "fail", "--modified", "skip", "--allow-widening", "--lineage"},
			jobs.Contract{
				Schema: []jobs.ColumnSpec{
					{Name: "id", Type: schema.Int64, NotNull: true},
					{Name: "amount", Type: schema.Float64},
					{Name: "email", Type: schema.String},
				},
				Evolution: jobs.EvolutionFail, Modified: jobs.ModifiedSkip, AllowWidening: true, Lineage: true,
			}},
		{"hints and rescue", []string{"--schema-hints", "amount:string", "--evolution", "rescue", "--modified", "append"},
			jobs.Contract{SchemaHints: []jobs.ColumnSpec{{Name: "amount", Type: schema.String}},
				Evolution: jobs.EvolutionRescue, Modified: jobs.ModifiedAppend}},
		{"parquet codec", []string{"--parquet-compression", "zstd", "--compression", "gzip"},
			jobs.Contract{Compression: jobs.CodecZstd}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var enq map[string]string
			out := c.ok("", append(append([]string{"--json", "ingest"}, base...), tc.args...)...)
			if err := json.Unmarshal([]byte(out), &enq); err != nil {
				t.Fatalf("ingest printed %q: %v", out, err)
			}
			info, err := insp.GetTaskInfo(enq["queue"], enq["task_id"])
			if err != nil {
				t.Fatal(err)
			}
			var p jobs.IngestPayload
			if err := json.Unmarshal(info.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Contract, tc.want) {
				t.Errorf("ingest payload contract = %+v, want %+v", p.Contract, tc.want)
			}

			id := "s-" + strings.ReplaceAll(tc.name, " ", "-")
			c.ok("", append(append([]string{"schedule", "add", "--id", id, "--cron", "@hourly"}, base...), tc.args...)...)
			all, err := jobs.NewSchedules(rs.Client(t)).List(t.Context(), "ws1")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, s := range all {
				if s.ID == id {
					found = true
					if !reflect.DeepEqual(s.Ingest.Contract, tc.want) {
						t.Errorf("schedule contract = %+v, want %+v", s.Ingest.Contract, tc.want)
					}
				}
			}
			if !found {
				t.Errorf("schedule %s not stored: %+v", id, all)
			}
		})
	}
}

// TestIngestFlagErrors: a bad value is reported with the flag the user
// typed, before Redis is reached (none listens here), for ingest and
// schedule add alike.
func TestIngestFlagErrors(t *testing.T) {
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"}
	base := []string{"--workspace", "ws1", "--bucket", "data", "--dataset", "orders"}
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		payload bool // a jobs.PayloadError underneath
	}{
		{"evolution", []string{"--evolution", "merge"}, `--evolution "merge": want add, rescue or fail`, false},
		{"modified", []string{"--modified", "overwrite"}, `--modified "overwrite": want replace, append or skip`, false},
		{"schema type", []string{"--schema", "id:integer"}, `--schema: entry 1 "id:integer"`, true},
		{"schema entry", []string{"--schema", "id"}, `--schema: entry 1 "id": want name:type`, true},
		{"schema duplicate", []string{"--schema", "id:int64,id:string"}, `--schema: column "id" appears twice`, true},
		{"hints", []string{"--schema-hints", "amount:money"}, `--schema-hints: entry 1 "amount:money"`, true},
		{"schema and hints", []string{"--schema", "id:int64", "--schema-hints", "id:string"}, "--schema and --schema-hints", false},
		{"dataset", []string{"--dataset", "../x"}, `--dataset: "../x"`, true},
		{"workspace", []string{"--workspace", ""}, "--workspace: must not be empty", true},
		{"bucket", []string{"--bucket", ""}, "--bucket: is required", true},
		{"bad bucket", []string{"--bucket", "No_Such"}, `--bucket: "No_Such" is not a valid S3 bucket name`, true},
		{"key and prefix", []string{"--key", "a.csv", "--prefix", "in/"}, "--key: cannot be combined with --prefix or --glob", true},
		{"max rejects", []string{"--max-rejects", "-1"}, "--max-rejects: must not be negative", true},
		{"reject fraction", []string{"--job-max-reject-fraction", "2"}, "--job-max-reject-fraction: must be between 0 and 1", true},
		{"concurrency", []string{"--concurrency", "65"}, "--concurrency: must be between 0 and 64", true},
		{"format", []string{"--format", "xml"}, `--format: "xml" is not one of csv, json, parquet`, true},
		{"parquet codec", []string{"--parquet-compression", "brotli"}, `--parquet-compression: "brotli": want snappy, zstd, lz4_raw, none or gzip`, true},
	} {
		for _, command := range [][]string{{"ingest"}, {"schedule", "add", "--id", "s1", "--cron", "@hourly"}} {
			t.Run(tc.name+"/"+command[0], func(t *testing.T) {
				_, _, err := c.run("", append(append(append([]string{}, command...), base...), tc.args...)...)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want one containing %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "Redis") {
					t.Fatalf("err %v: the flags were not checked before Redis", err)
				}
				if tc.payload != errors.Is(err, jobs.ErrInvalidPayload) {
					t.Fatalf("err %v: errors.Is(ErrInvalidPayload) = %v, want %v", err, !tc.payload, tc.payload)
				}
			})
		}
	}
	// schedule add's own fields.
	c.fails("--cron: ", "", append([]string{"schedule", "add", "--id", "s1", "--cron", "every day"}, base...)...)
	c.fails("--id: ", "", append([]string{"schedule", "add", "--id", ":x", "--cron", "@hourly"}, base...)...)
	// preview names its flags too.
	c.fails("--bucket: is required", "", "preview", "--workspace", "ws1")
}
