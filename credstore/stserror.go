package credstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// AssumeRoleCause classifies why sts:AssumeRole failed.
type AssumeRoleCause string

// Causes of AssumeRole failures. The first group is permanent (the
// customer or operator must change something); the last group is
// transient (retrying may succeed).
const (
	// CauseExternalIDMismatch: STS said the External ID is wrong (AWS
	// itself reports this only as access denied; see CauseAccessDenied).
	CauseExternalIDMismatch AssumeRoleCause = "external id mismatch"
	// CausePrincipalNotTrusted: the role's trust policy does not name the
	// platform principal (User ARN).
	CausePrincipalNotTrusted AssumeRoleCause = "principal not trusted"
	// CauseRoleNotFound: the role does not exist.
	CauseRoleNotFound AssumeRoleCause = "role not found"
	// CauseAccessDenied: access denied without more detail. On AWS this is
	// what all three causes above look like: the role does not exist, its
	// trust policy does not name the User ARN, or its sts:ExternalId
	// condition does not match.
	CauseAccessDenied AssumeRoleCause = "access denied"
	// CauseInvalidRequest: STS rejected a parameter (role ARN, duration,
	// session name, source identity).
	CauseInvalidRequest AssumeRoleCause = "invalid request"
	// CauseRegionDisabled: STS is not activated in the region used.
	CauseRegionDisabled AssumeRoleCause = "sts region disabled"

	// CausePlatformCredentials: the platform's own AWS credentials are
	// missing, invalid or expired (the operator must fix ingestd's
	// environment). Treated as transient so jobs retry once fixed.
	CausePlatformCredentials AssumeRoleCause = "platform credentials invalid"
	// CauseThrottled: STS throttled the request.
	CauseThrottled AssumeRoleCause = "throttled"
	// CauseServiceError: STS answered 5xx.
	CauseServiceError AssumeRoleCause = "sts service error"
	// CauseNetwork: STS could not be reached.
	CauseNetwork AssumeRoleCause = "network error"
	// CauseCanceled: the caller's context ended.
	CauseCanceled AssumeRoleCause = "canceled"
	// CauseUnknown: anything else (treated as transient).
	CauseUnknown AssumeRoleCause = "unknown"
)

// Transient reports whether retrying later may succeed without anyone
// changing configuration.
func (c AssumeRoleCause) Transient() bool {
	switch c {
	case CauseExternalIDMismatch, CausePrincipalNotTrusted, CauseRoleNotFound, CauseAccessDenied, CauseInvalidRequest, CauseRegionDisabled:
		return false
	}
	return true
}

// AssumeRoleError is the error of a failed sts:AssumeRole for a workspace's
// integration. It is the one classification of STS failures in s3ingest:
// Permanent (= !Transient) ends a task without retry, wherever the error is
// found (at the start of a job or nested in an S3 error when cached
// credentials are refreshed mid-run); Cause and Fix tell customers what to
// change.
type AssumeRoleError struct {
	// WorkspaceID is the workspace whose integration was assumed.
	WorkspaceID string
	// RoleARN is the role.
	RoleARN string
	// UserARN is the platform principal the trust policy must name.
	UserARN string
	// WithExternalID reports whether an External ID was sent.
	WithExternalID bool
	// Cause classifies the failure.
	Cause AssumeRoleCause
	// Code is the STS error code ("AccessDenied", ...), if any.
	Code string
	// Message is STS's error message, if any.
	Message string
	// Cached is true when the error was served from the negative cache
	// without calling STS.
	Cached bool
	// Err is the underlying error.
	Err error
}

// Transient reports whether retrying may succeed (throttling, 5xx,
// network, platform credentials); false means the customer's role setup
// must change.
func (e *AssumeRoleError) Transient() bool { return e.Cause.Transient() }

// Unwrap returns the underlying error.
func (e *AssumeRoleError) Unwrap() error { return e.Err }

// Error names the role, the cause and the fix.
func (e *AssumeRoleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sts:AssumeRole of %s for workspace %s failed: %s", e.RoleARN, e.WorkspaceID, e.Cause)
	if e.Code != "" || e.Message != "" {
		fmt.Fprintf(&b, " (%s: %s)", e.Code, e.Message)
	} else if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	if e.Cached {
		b.WriteString(" [cached failure, STS not called again yet]")
	}
	if fix := e.Fix(); fix != "" {
		b.WriteString(": ")
		b.WriteString(fix)
	}
	return b.String()
}

// Permanent reports whether retrying cannot succeed until the customer's
// role setup changes: !Transient().
func (e *AssumeRoleError) Permanent() bool { return !e.Transient() }

// Fix says what to change for the cause, worded for the workspace's user
// (no CLI commands; empty for transient causes other than the platform's
// own credentials).
func (e *AssumeRoleError) Fix() string {
	switch e.Cause {
	case CauseExternalIDMismatch:
		return "the External ID does not match the role's trust policy: its sts:ExternalId condition must equal the External ID of workspace " + e.WorkspaceID + "'s integration"
	case CausePrincipalNotTrusted:
		return fmt.Sprintf("the role's trust policy must allow principal %s to call sts:AssumeRole", e.UserARN)
	case CauseRoleNotFound:
		return "check the role ARN, or create the role, and set the role ARN of workspace " + e.WorkspaceID + "'s integration to it"
	case CauseAccessDenied:
		return fmt.Sprintf("check that the role exists, that its trust policy allows principal %s to call sts:AssumeRole, and that its sts:ExternalId condition equals the External ID of workspace %s's integration", e.UserARN, e.WorkspaceID)
	case CauseInvalidRequest:
		return "check the role ARN and ingestd's session settings"
	case CauseRegionDisabled:
		return "activate STS in that region in the account, or point ingestd at another STS region"
	case CausePlatformCredentials:
		return "the platform's own AWS credentials (ingestd's environment) are missing or invalid: fix them on the worker"
	}
	return ""
}

// IsSTSDenied reports whether err contains an AssumeRoleError whose cause
// is a permanent denial (external ID mismatch, principal not trusted, role
// not found, access denied).
func IsSTSDenied(err error) bool {
	var are *AssumeRoleError
	if !errors.As(err, &are) {
		return false
	}
	switch are.Cause {
	case CauseExternalIDMismatch, CausePrincipalNotTrusted, CauseRoleNotFound, CauseAccessDenied:
		return true
	}
	return false
}

// classifySTS sorts an AssumeRole error into a cause and extracts the AWS
// code and message.
func classifySTS(err error) (cause AssumeRoleCause, code, msg string) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CauseCanceled, "", ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
		lmsg := strings.ToLower(msg)
		switch code {
		case "AccessDenied", "AccessDeniedException":
			switch {
			case strings.Contains(lmsg, "externalid") || strings.Contains(lmsg, "external id") || strings.Contains(lmsg, "external_id"):
				return CauseExternalIDMismatch, code, msg
			case strings.Contains(lmsg, "signature") || strings.Contains(lmsg, "unable to identify caller"):
				return CausePlatformCredentials, code, msg
			case strings.Contains(lmsg, "not found") || strings.Contains(lmsg, "does not exist") || strings.Contains(lmsg, "nosuchentity"):
				return CauseRoleNotFound, code, msg
			case strings.Contains(lmsg, "trust policy") || strings.Contains(lmsg, "not trusted"):
				return CausePrincipalNotTrusted, code, msg
			}
			return CauseAccessDenied, code, msg
		case "NoSuchEntity":
			return CauseRoleNotFound, code, msg
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken",
			"UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId":
			return CausePlatformCredentials, code, msg
		case "ValidationError", "InvalidParameterValue", "InvalidParameterCombination", "MissingParameter",
			"MalformedPolicyDocument", "PackedPolicyTooLarge", "InvalidAction":
			return CauseInvalidRequest, code, msg
		case "RegionDisabledException":
			return CauseRegionDisabled, code, msg
		case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "SlowDown":
			return CauseThrottled, code, msg
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			switch st := re.HTTPStatusCode(); {
			case st >= 500:
				return CauseServiceError, code, msg
			case st == 429:
				return CauseThrottled, code, msg
			case st == 403:
				return CauseAccessDenied, code, msg
			case st >= 400:
				return CauseInvalidRequest, code, msg
			}
		}
		return CauseUnknown, code, msg
	}
	var se *v4.SigningError
	if errors.As(err, &se) {
		return CausePlatformCredentials, "", ""
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return CauseServiceError, "", ""
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return CauseNetwork, "", ""
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return CauseNetwork, "", ""
	}
	return CauseUnknown, "", ""
}
