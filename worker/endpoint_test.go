package worker_test

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
)

// TestPrivateCredentialEndpointRefused: by default a credential instance's
// endpoint on a loopback address is refused at dial time (no request
// leaves), and the task is archived without retry with the fix.
func TestPrivateCredentialEndpointRefused(t *testing.T) {
	h := newHarness(t, withPublicEndpointsOnly())
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "a.csv", ordersCSV(1, 3, nil))
	rec := h.s3.RecordingProxy(t)
	c, err := h.store.AddCredential(t.Context(), "ws-a", credInput(testenv.ReaderAccessKey, testenv.ReaderSecretKey, h.s3.Region, rec.Endpoint))
	if err != nil {
		t.Fatal(err)
	}
	info, err := h.run(ingestTask(t, "ws-a", c.ID, bucket, "", "ssrf"), nil)
	if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("state %s retried %d err %v: want archived at once", info.State, info.Retried, err)
	}
	if !strings.Contains(info.LastErr, "internal address") || !strings.Contains(info.LastErr, "S3INGEST_ALLOW_PRIVATE_ENDPOINTS") {
		t.Fatalf("last error %q does not explain the refusal and the fix", info.LastErr)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("%d requests reached the private endpoint", n)
	}
}
