package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

func TestBudgetExceeded(t *testing.T) {
	type counts struct{ objRej, objRead, jobRej, jobRead int64 }
	tests := []struct {
		name   string
		budget jobs.ErrorBudget
		c      counts
		scope  string // "" = within budget
		limit  string
	}{
		{"strict tolerates none", jobs.ErrorBudget{}, counts{1, 10, 1, 10}, "object", "none"},
		{"strict with no rejects", jobs.ErrorBudget{}, counts{0, 10, 0, 10}, "", ""},
		{"object rows within", jobs.ErrorBudget{ObjectMaxRows: 2}, counts{2, 50, 2, 50}, "", ""},
		{"object rows over", jobs.ErrorBudget{ObjectMaxRows: 2}, counts{3, 50, 3, 50}, "object", "object_max_rows 2"},
		{"object fraction below 100 rows is not judged", jobs.ErrorBudget{ObjectMaxFraction: 0.1}, counts{5, 20, 5, 20}, "", ""},
		{"object fraction over", jobs.ErrorBudget{ObjectMaxFraction: 0.1}, counts{20, 150, 20, 150}, "object", "object_max_fraction 0.1"},
		{"object fraction within", jobs.ErrorBudget{ObjectMaxFraction: 0.1}, counts{10, 150, 10, 150}, "", ""},
		{"job rows only: objects may reject", jobs.ErrorBudget{JobMaxRows: 10}, counts{4, 50, 10, 500}, "", ""},
		{"job rows over", jobs.ErrorBudget{JobMaxRows: 10}, counts{4, 50, 11, 500}, "job", "job_max_rows 10"},
		{"job fraction over", jobs.ErrorBudget{JobMaxFraction: 0.01}, counts{1, 10, 6, 500}, "job", "job_max_fraction 0.01"},
		{"job fraction within", jobs.ErrorBudget{JobMaxFraction: 0.01}, counts{1, 10, 5, 500}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newErrorBudget(tt.budget).object("s3://b/k")
			o.rejected, o.read, o.first = tt.c.objRej, tt.c.objRead-tt.c.objRej, []string{"first problem"}
			err := o.exceeded(tt.c.jobRej, tt.c.jobRead)
			if tt.scope == "" {
				if err != nil {
					t.Fatalf("exceeded = %v, want within budget", err)
				}
				return
			}
			var be *BudgetError
			if !errors.As(err, &be) || be.Scope != tt.scope || !strings.Contains(be.Limit, tt.limit) {
				t.Fatalf("exceeded = %#v, want scope %s limit %s", err, tt.scope, tt.limit)
			}
			msg := err.Error()
			if !strings.Contains(msg, "first problem") || !strings.Contains(msg, "error_budget") {
				t.Fatalf("message %q lacks the first errors or the fix", msg)
			}
			if tt.scope == "object" && !strings.HasPrefix(msg, "s3://b/k: ") {
				t.Fatalf("object budget message %q does not name the object", msg)
			}
			if !isPermanent(err) {
				t.Fatal("a budget error must not be retried")
			}
		})
	}
}

func TestTaskErrorSkipsRetryOnlyForPermanentErrors(t *testing.T) {
	if err := taskError(&Permanent{Err: errors.New("denied")}); !strings.Contains(err.Error(), "denied") || !isSkipRetry(err) {
		t.Fatalf("permanent: %v", err)
	}
	if err := taskError(errors.New("connection reset")); isSkipRetry(err) {
		t.Fatalf("transient error marked skip-retry: %v", err)
	}
	if err := taskError(jobs.ErrInvalidPayload); !isSkipRetry(err) {
		t.Fatalf("invalid payload retried: %v", err)
	}
	if taskError(nil) != nil {
		t.Fatal("nil error changed")
	}
}

func isSkipRetry(err error) bool { return errors.Is(err, asynq.SkipRetry) }

// fakeResolver resolves every workspace to static keys, as a stored
// credential instance (credentialID set) or as an integration.
type fakeResolver struct{ endpoint string }

func (f fakeResolver) Resolve(_ context.Context, _, credentialID string) (*credstore.Resolved, error) {
	return &credstore.Resolved{Provider: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", "token"),
		Region: "us-east-1", Endpoint: f.endpoint, CredentialID: credentialID}, nil
}

// TestExpiredTokenOfStoredCredentialIsPermanent: S3 says the session token
// expired. The credentials of a stored credential instance cannot refresh,
// so that is permanent and names the credential; an integration's are
// refreshed by its cache, so it is retried. The client knows which it has.
func TestExpiredTokenOfStoredCredentialIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`))
	}))
	defer srv.Close()
	h, err := NewHandlers(Config{AllowPrivateEndpoints: true}, fakeResolver{endpoint: srv.URL}, nopSink{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(credentialID string) error {
		c, _, err := h.client(t.Context(), "ws", credentialID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Object(t.Context(), source.ObjectInfo{Bucket: "b", Key: "k", Size: -1}).Open(t.Context(), 0, -1)
		return err
	}
	if err := read(""); err == nil || isPermanent(err) {
		t.Fatalf("an integration's expired token (refreshed by its cache) was made permanent: %v", err)
	}
	err = read("cred_1")
	if !isPermanent(err) || !strings.Contains(err.Error(), "credential cred_1") || !strings.Contains(err.Error(), "store current keys") ||
		strings.Contains(err.Error(), "ingestctl") {
		t.Fatalf("a stored credential's expired token: %v (permanent %v)", err, isPermanent(err))
	}
}

// nopSink is a sink that is never written to.
type nopSink struct{ sink.Sink }

// TestErrorBudgetRejectAndFinish: reject counts an object's rows and the
// job's, keeps the first errors and samples, and stops at a limit; the
// object's fraction, not judged below 100 rows, is judged by finish.
func TestErrorBudgetRejectAndFinish(t *testing.T) {
	b := newErrorBudget(jobs.ErrorBudget{ObjectMaxFraction: 0.1, JobMaxRows: 7})
	o := b.object("s3://b/small.csv")
	o.accept(15)
	for i := range 5 {
		if err := o.reject(&parsers.ParseError{Object: "s3://b/small.csv", Line: int64(i + 2), Err: parsers.ErrType}); err != nil {
			t.Fatalf("reject %d of 20 rows: %v (fractions wait for 100 rows)", i+1, err)
		}
	}
	var be *BudgetError
	if err := o.finish(); !errors.As(err, &be) || be.Scope != "object" || be.Rejected != 5 || be.Read != 20 || len(be.First) != 5 {
		t.Fatalf("finish = %v, want the object's fraction exceeded", err)
	}
	o2 := b.object("s3://b/other.csv")
	o2.accept(1000)
	for range 2 {
		if err := o2.reject(&parsers.ParseError{Object: "s3://b/other.csv", Err: parsers.ErrType}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o2.reject(&parsers.ParseError{Object: "s3://b/other.csv", Err: parsers.ErrType}); !errors.As(err, &be) || be.Scope != "job" || be.Rejected != 8 {
		t.Fatalf("8th rejected row of the job = %v, want job_max_rows exceeded", err)
	}
	n, samples := b.rejects()
	if n != 8 || len(samples) != 8 || samples[0].Line != 2 || samples[7].Object != "s3://b/other.csv" {
		t.Fatalf("rejects = %d, %+v", n, samples)
	}
	if b.read.Load() != 1015 {
		t.Fatalf("job read %d, want 1015", b.read.Load())
	}
}

// TestTaskErrorMessageHasNoAsynqJargon: an archived task's error reads as
// the cause and the fix, without asynq's "(skip retry for the task)".
func TestTaskErrorMessageHasNoAsynqJargon(t *testing.T) {
	err := taskError(&Permanent{Err: errors.New("access denied to s3://b/k: check the role's policy")})
	if !isSkipRetry(err) {
		t.Fatal("a permanent error must skip retries")
	}
	if msg := err.Error(); msg != "access denied to s3://b/k: check the role's policy" {
		t.Fatalf("message = %q, want the cause and fix only", msg)
	}
	var p *Permanent
	if !errors.As(err, &p) {
		t.Fatal("the cause is no longer reachable with errors.As")
	}
}

func TestRetryDelayOfADeadWorkerIsShort(t *testing.T) {
	d := retryDelay(nil)
	if got := d(0, fmt.Errorf("asynq: %w", asynq.ErrLeaseExpired), nil); got != LeaseExpiredRetryDelay {
		t.Fatalf("delay after a lease expiry = %s, want %s", got, LeaseExpiredRetryDelay)
	}
	if got := d(0, errors.New("connection reset"), nil); got < 10*time.Second {
		t.Fatalf("delay after an ordinary failure = %s, want asynq's backoff (>= 10s for a first retry)", got)
	}
	custom := retryDelay(func(int, error, *asynq.Task) time.Duration { return 42 * time.Millisecond })
	if got := custom(3, errors.New("x"), nil); got != 42*time.Millisecond {
		t.Fatalf("a configured delay func is not used: %s", got)
	}
}

func TestAsynqLoggerRewordsForPeople(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := AsynqLogger(zap.New(core), "asynq")
	l.Warn("Retry exhausted for task id=abc123")
	l.Error("Failed to close redis client connection: redis connection is shared so the Client can't be closed through asynq")
	l.Error("real trouble")
	entries := logs.AllUntimed()
	if len(entries) != 3 {
		t.Fatalf("got %d entries", len(entries))
	}
	if e := entries[0]; e.Level != zapcore.InfoLevel || e.Message != "task archived" || e.ContextMap()["task_id"] != "abc123" {
		t.Errorf("retry exhausted became %v %q %v, want info \"task archived\" task_id=abc123", e.Level, e.Message, e.ContextMap())
	}
	if e := entries[1]; e.Level != zapcore.DebugLevel {
		t.Errorf("the shared-connection message on shutdown is logged at %v, want debug", e.Level)
	}
	if e := entries[2]; e.Level != zapcore.ErrorLevel || e.Message != "real trouble" {
		t.Errorf("an ordinary error became %v %q", e.Level, e.Message)
	}
}

// TestObjectBudgetUndo: an abandoned attempt at an object (read again after
// a concurrent schema change) takes its counts back out of the job's.
func TestObjectBudgetUndo(t *testing.T) {
	b := newErrorBudget(jobs.ErrorBudget{JobMaxRows: 10})
	kept := b.object("s3://b/kept")
	kept.accept(5)
	again := b.object("s3://b/again")
	again.accept(7)
	if err := again.reject(&parsers.ParseError{Object: "s3://b/again", Line: 3, Err: errors.New("bad")}); err != nil {
		t.Fatal(err)
	}
	again.undo()
	if got, _ := b.rejects(); got != 0 || b.read.Load() != 5 {
		t.Fatalf("after undo: rejected %d, read %d; want 0 and 5", got, b.read.Load())
	}
}
