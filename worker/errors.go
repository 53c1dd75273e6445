package worker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
)

// Retry or archive is decided in one place, isPermanent, with one
// errors.As on interface{ Permanent() bool }: every error that knows
// whether a retry can help says so itself (credstore's AssumeRoleError and
// sentinels, source's OpError, sink's errors, parsers' ParseError, the
// payload errors of jobs, and this package's Permanent, BudgetError and
// ErrEndpointRefused). Unclassified errors (network, context, unknown)
// are transient.

// classified is the shared contract of s3ingest's error types.
type classified interface {
	// Permanent reports whether retrying the same work cannot succeed.
	Permanent() bool
}

// Permanent marks an error after which retrying cannot help although its
// cause does not say so itself (some objects of an ingest failed, no object
// matches a preview). The handler returns it wrapped with asynq.SkipRetry
// so the task is archived at once with a message that names the cause and
// the fix.
type Permanent struct {
	Err error
}

// Error implements error.
func (e *Permanent) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Permanent) Unwrap() error { return e.Err }

// Permanent reports true.
func (e *Permanent) Permanent() bool { return true }

// BudgetError reports that rejected rows exceeded the job's error budget.
// It is permanent: the same data is rejected again.
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

// budgetFix is the fix of every BudgetError.
const budgetFix = "fix the data, set the column types with parse options, or raise error_budget"

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
	b.WriteString(" (" + budgetFix + ")")
	return b.String()
}

// Permanent reports true.
func (e *BudgetError) Permanent() bool { return true }

// Fix says what to change.
func (e *BudgetError) Fix() string { return budgetFix }

// isPermanent reports whether err cannot be cured by a retry: the
// outermost classified error in its chain says so.
func isPermanent(err error) bool {
	var c classified
	return errors.As(err, &c) && c.Permanent()
}

// taskError turns a handler error into what asynq should see: permanent
// errors skip the remaining retries.
func taskError(err error) error {
	if err == nil {
		return nil
	}
	if isPermanent(err) {
		return &skipRetry{err}
	}
	return err
}

// skipRetry tells asynq to archive the task (errors.Is asynq.SkipRetry)
// without adding asynq's "(skip retry for the task)" to the message users
// read.
type skipRetry struct{ err error }

func (e *skipRetry) Error() string   { return e.err.Error() }
func (e *skipRetry) Unwrap() []error { return []error{e.err, asynq.SkipRetry} }

// NoMatchError reports that a job's source matched no object at all: a
// typo in a bucket, prefix or glob would otherwise do nothing forever. It
// is permanent.
type NoMatchError struct {
	Bucket, Prefix, Glob string
}

// Error names the bucket, the prefix and the glob, and the fix.
func (e *NoMatchError) Error() string {
	return fmt.Sprintf("no object matches bucket %q, prefix %q, glob %q: nothing to load (%s)", e.Bucket, e.Prefix, e.Glob, e.Fix())
}

// Permanent reports true: the same listing matches nothing again.
func (e *NoMatchError) Permanent() bool { return true }

// Fix says what to change.
func (e *NoMatchError) Fix() string {
	return "check the bucket, the prefix and the glob (keys are case-sensitive, a prefix matches from the start of the key, a glob the whole key), or upload the objects first"
}
