package worker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Permanent marks an error after which retrying cannot help (access denied,
// no such bucket, an invalid payload, a corrupt file, an exhausted error
// budget). The handler returns it wrapped with asynq.SkipRetry so the task is
// archived at once with a message that names the cause and the fix.
type Permanent struct {
	Err error
}

// Error implements error.
func (e *Permanent) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Permanent) Unwrap() error { return e.Err }

// BudgetError reports that rejected rows exceeded the job's error budget.
type BudgetError struct {
	// Scope is "object" or "job".
	Scope string
	// Object names the object (for the object scope).
	Object string
	// Rejected and Read are the counts when the budget ran out.
	Rejected, Read int64
	// Limit describes the exceeded limit, e.g. "object_max_rows 10".
	Limit string
	// First holds the first row errors, to show what is wrong.
	First []string
}

// Error shows the counts, the limit, the first errors and how to fix it.
func (e *BudgetError) Error() string {
	var b strings.Builder
	if e.Scope == "object" {
		fmt.Fprintf(&b, "%s: ", e.Object)
	}
	fmt.Fprintf(&b, "error budget exceeded: %d of %d rows rejected (limit %s)", e.Rejected, e.Read, e.Limit)
	if len(e.First) > 0 {
		b.WriteString("; first errors: ")
		b.WriteString(strings.Join(e.First, "; "))
	}
	b.WriteString(" (fix the data, set the column types with parse options, or raise error_budget)")
	return b.String()
}

// isPermanent reports whether err cannot be cured by a retry.
func isPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *Permanent
	var pe *parsers.ParseError
	var be *BudgetError
	switch {
	case errors.As(err, &p), errors.As(err, &pe), errors.As(err, &be):
		return true
	case errors.Is(err, jobs.ErrInvalidPayload), errors.Is(err, ErrEndpointRefused), credstore.IsPermanent(err), sink.Permanent(err):
		return true
	}
	return false // cancellation, network, throttling, 5xx: retry
}

// taskError turns a handler error into what asynq should see: permanent
// errors skip the remaining retries.
func taskError(err error) error {
	if err == nil {
		return nil
	}
	if isPermanent(err) {
		return fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
	}
	return err
}
