package worker_test

import (
	"testing"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// TestDryRunSaysWhatAnIngestWouldDo: after a first ingest, one object is
// re-uploaded with new content, one is new and one is an empty marker: the
// dry run lists each with its action, reads and writes nothing, and fails
// like the ingest for a source that matches nothing.
func TestDryRunSaysWhatAnIngestWouldDo(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "d/a.csv", csvOf("id", "1", "2"))
	h.s3.Put(t, bucket, "d/b.csv", csvOf("id", "3"))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "d/", "dry"), nil); err != nil {
		t.Fatal(err)
	}
	h.s3.Put(t, bucket, "d/a.csv", csvOf("id", "1", "2", "99")) // a new version
	h.s3.Put(t, bucket, "d/c.csv", csvOf("id", "4"))
	h.s3.Put(t, bucket, "d/_SUCCESS", nil)

	dry := func(prefix string) (*asynq.TaskInfo, jobs.DryRunResult, error) {
		task, err := jobs.NewDryRunTask(jobs.IngestPayload{WorkspaceID: "ws-a", CredentialID: cred, Dataset: "dry",
			Source: jobs.Source{Bucket: bucket, Prefix: prefix}})
		if err != nil {
			t.Fatal(err)
		}
		var res jobs.DryRunResult
		info, err := h.run(task, &res)
		return info, res, err
	}
	_, res, err := dry("d/")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]jobs.DryRunAction{"d/a.csv": jobs.DryRunReplace, "d/b.csv": jobs.DryRunLoaded,
		"d/c.csv": jobs.DryRunRead, "d/_SUCCESS": jobs.DryRunEmpty}
	if len(res.Objects) != len(want) || !res.DatasetExists {
		t.Fatalf("dry run = %+v", res)
	}
	for _, o := range res.Objects {
		if want[o.Key] != o.Action {
			t.Errorf("%s: action %s, want %s", o.Key, o.Action, want[o.Key])
		}
	}
	if res.Counts[jobs.DryRunRead] != 1 || res.Counts[jobs.DryRunReplace] != 1 || res.Bytes == 0 {
		t.Errorf("counts %v bytes %d", res.Counts, res.Bytes)
	}
	// Nothing was written: the dataset still has the first ingest's rows.
	if n := len(readDataset(t, h, "ws-a", "dry").Rows); n != 3 {
		t.Fatalf("dataset has %d rows after a dry run, want 3", n)
	}
	info, _, err := dry("nothing-here/")
	if err == nil || info.Retried != 0 {
		t.Fatalf("dry run of an empty prefix: err %v retried %d, want a permanent no-match error", err, info.Retried)
	}
}
