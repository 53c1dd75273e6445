package credstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/credstore"
)

// classified is the shared error contract: the worker's one errors.As.
type classified interface{ Permanent() bool }

func permanent(err error) bool {
	var c classified
	return errors.As(err, &c) && c.Permanent()
}

// TestErrorsClassifyThemselves: every credstore error that knows its class
// says so through Permanent, wrapped or not, and errors.Is keeps working.
func TestErrorsClassifyThemselves(t *testing.T) {
	for _, s := range []error{credstore.ErrNotFound, credstore.ErrNoCredentials, credstore.ErrIntegrationPending,
		credstore.ErrIntegrationRemoved, credstore.ErrCorruptRecord, credstore.ErrExists,
		credstore.ErrSecretKeyMissing, credstore.ErrSecretKeyInvalid, credstore.ErrUnknownKeyID, credstore.ErrSealAuth, credstore.ErrSealedFormat} {
		wrapped := fmt.Errorf("workspace w1: %w: detail", s)
		if !permanent(wrapped) || !errors.Is(wrapped, s) {
			t.Errorf("%v: permanent %v, errors.Is %v", s, permanent(wrapped), errors.Is(wrapped, s))
		}
	}
	if errors.Is(credstore.ErrNotFound, credstore.ErrNoCredentials) {
		t.Error("distinct sentinels match each other")
	}
	if _, err := credstore.ParseRoleARN("arn:aws:iam::12:role/x"); !permanent(err) {
		t.Errorf("ARN error %v not permanent", err)
	}
	if !permanent(fmt.Errorf("x: %w", &credstore.ValidationError{Field: "role_arn", Reason: "empty"})) {
		t.Error("ValidationError not permanent")
	}
	if permanent(errors.New("redis: connection refused")) {
		t.Error("an unclassified error is transient")
	}
}

// TestAssumeRoleErrorClass: Permanent is !Transient, and the fix speaks
// to the platform's user, naming no CLI command.
func TestAssumeRoleErrorClass(t *testing.T) {
	for _, c := range []struct {
		cause     credstore.AssumeRoleCause
		permanent bool
	}{
		{credstore.CauseExternalIDMismatch, true}, {credstore.CausePrincipalNotTrusted, true}, {credstore.CauseRoleNotFound, true},
		{credstore.CauseAccessDenied, true}, {credstore.CauseInvalidRequest, true}, {credstore.CauseRegionDisabled, true},
		{credstore.CauseThrottled, false}, {credstore.CauseServiceError, false}, {credstore.CauseNetwork, false},
		{credstore.CausePlatformCredentials, false}, {credstore.CauseCanceled, false}, {credstore.CauseUnknown, false},
	} {
		are := &credstore.AssumeRoleError{WorkspaceID: "w1", RoleARN: "arn:aws:iam::123456789012:role/r", UserARN: testUserARN, Cause: c.cause}
		// As found mid-run: inside the SDK's refresh wrapper inside an S3 error.
		err := fmt.Errorf("operation error S3: GetObject: %w", fmt.Errorf("failed to refresh cached credentials, %w", are))
		if are.Permanent() != c.permanent || permanent(err) != c.permanent || are.Transient() == are.Permanent() {
			t.Errorf("%s: Permanent %v, want %v", c.cause, are.Permanent(), c.permanent)
		}
		if strings.Contains(are.Fix(), "ingestctl") || strings.Contains(are.Error(), "ingestctl") {
			t.Errorf("%s: fix %q names a CLI command", c.cause, are.Fix())
		}
		if c.permanent && are.Fix() == "" {
			t.Errorf("%s: permanent without a fix", c.cause)
		}
	}
}
