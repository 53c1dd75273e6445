package credstore

import (
	"errors"
	"fmt"
)

// Every error of this package that knows whether retrying can help says so
// with a Permanent method (the shared contract of s3ingest's packages; the
// worker decides retry vs archive with one errors.As on
// interface{ Permanent() bool }):
//
//   - the sentinel errors below are all permanent: someone must change a
//     record, the configuration or the request;
//   - *ValidationError and *ARNError are permanent;
//   - *AssumeRoleError is permanent when its Cause is not transient
//     (Permanent is !Transient);
//   - anything else (Redis, the network, the caller's context) is
//     unclassified, which means transient.

// sentinel is the type of this package's sentinel errors: a fixed message
// and a class. Compare with errors.Is (each is a distinct pointer).
type sentinel struct {
	msg       string
	permanent bool
}

// Error returns the message.
func (e *sentinel) Error() string { return e.msg }

// Permanent reports whether retrying the same work cannot succeed.
func (e *sentinel) Permanent() bool { return e.permanent }

// permanentSentinel returns a new permanent sentinel error.
func permanentSentinel(msg string) error { return &sentinel{msg: msg, permanent: true} }

// Sentinel errors of the store. Returned errors wrap them with detail (the
// workspace, the ID and how to fix it); test with errors.Is. All are
// permanent: retrying without a change cannot succeed.
var (
	// ErrNotFound means the record does not exist in that workspace.
	ErrNotFound = permanentSentinel("not found")
	// ErrExists means a record that must be unique already exists (a
	// workspace's integration, a credential name within a workspace).
	ErrExists = permanentSentinel("already exists")
	// ErrNoCredentials means a job named no credential instance and the
	// workspace has no AWS integration.
	ErrNoCredentials = permanentSentinel("no AWS credentials configured")
	// ErrIntegrationPending means the workspace's integration has no role
	// ARN yet (created in the pending form, its role not set).
	ErrIntegrationPending = permanentSentinel("AWS integration has no role ARN yet")
	// ErrIntegrationRemoved is returned by a credentials provider obtained
	// from Resolve after the integration it came from was removed: removal
	// takes effect even for ingests already running.
	ErrIntegrationRemoved = permanentSentinel("AWS integration was removed")
	// ErrRotationInProgress means Rotate was called while a rotation is
	// already under way.
	ErrRotationInProgress = permanentSentinel("an External ID rotation is already in progress")
	// ErrNoRotation means FinishRotation or CancelRotation was called
	// without a rotation in progress.
	ErrNoRotation = permanentSentinel("no External ID rotation in progress")
	// ErrCorruptRecord means a stored record is missing required fields.
	ErrCorruptRecord = permanentSentinel("corrupt record")
)

// ValidationError reports an invalid input field. Field names the field as
// the caller knows it (e.g. "access_key_id", "role_arn", "workspace").
type ValidationError struct {
	// Field names the invalid field.
	Field string
	// Reason says what is wrong and what is expected.
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Permanent reports true: the same input is invalid again.
func (e *ValidationError) Permanent() bool { return true }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Permanent reports true: the same ARN is invalid again.
func (e *ARNError) Permanent() bool { return true }

// IsPermanent reports whether err, or an error it wraps, is classified
// permanent (see the package's error classes above): the one errors.As of
// the shared contract. Prefer that errors.As in new code; IsPermanent
// remains for callers that only hold credstore errors.
func IsPermanent(err error) bool {
	var c interface{ Permanent() bool }
	return errors.As(err, &c) && c.Permanent()
}
