package credstore

import (
	"errors"
	"fmt"
)

// Sentinel errors of the store. Returned errors wrap them with detail (the
// workspace, the ID and how to fix it); test with errors.Is.
var (
	// ErrNotFound means the record does not exist in that workspace.
	ErrNotFound = errors.New("not found")
	// ErrExists means a record that must be unique already exists (a
	// workspace's integration, a credential name within a workspace).
	ErrExists = errors.New("already exists")
	// ErrNoCredentials means a job named no credential instance and the
	// workspace has no AWS integration.
	ErrNoCredentials = errors.New("no AWS credentials configured")
	// ErrIntegrationPending means the workspace's integration has no role
	// ARN yet (created in the pending form, `set-role` not run).
	ErrIntegrationPending = errors.New("AWS integration has no role ARN yet")
	// ErrIntegrationRemoved is returned by a credentials provider obtained
	// from Resolve after the integration it came from was removed: removal
	// takes effect even for ingests already running.
	ErrIntegrationRemoved = errors.New("AWS integration was removed")
	// ErrRotationInProgress means Rotate was called while a rotation is
	// already under way.
	ErrRotationInProgress = errors.New("an External ID rotation is already in progress")
	// ErrNoRotation means FinishRotation or CancelRotation was called
	// without a rotation in progress.
	ErrNoRotation = errors.New("no External ID rotation in progress")
	// ErrCorruptRecord means a stored record is missing required fields.
	ErrCorruptRecord = errors.New("corrupt record")
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

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
