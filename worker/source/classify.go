package source

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Kind says what went wrong, in terms a user can act on.
type Kind string

// Kinds of failure.
const (
	KindUnknown        Kind = "unknown"
	KindCanceled       Kind = "canceled"        // the task's context ended
	KindAccessDenied   Kind = "access_denied"   // 403 from S3
	KindKMS            Kind = "kms"             // the object's KMS key refused or unusable
	KindNoSuchBucket   Kind = "no_such_bucket"  // the bucket does not exist
	KindNotFound       Kind = "not_found"       // the key (or version) does not exist
	KindChanged        Kind = "changed"         // If-Match failed: overwritten since listing
	KindCredentials    Kind = "credentials"     // keys rejected or not obtainable
	KindExpiredToken   Kind = "expired_token"   // session token expired
	KindAssumeRole     Kind = "assume_role"     // STS AssumeRole failed
	KindThrottled      Kind = "throttled"       // SlowDown, 429, retry quota
	KindServer         Kind = "server"          // 5xx
	KindNetwork        Kind = "network"         // connection failures, timeouts
	KindWrongRegion    Kind = "wrong_region"    // redirect: the bucket is elsewhere
	KindArchived       Kind = "archived"        // Glacier object not restored
	KindInvalidRequest Kind = "invalid_request" // a 4xx this package does not expect
)

// Class is the verdict on an error: whether retrying can help, and a cause
// (Message) and a fix worded for the user who owns the bucket and the role.
type Class struct {
	// Kind is the category.
	Kind Kind
	// Permanent is true when retrying the same request cannot succeed:
	// end the task (asynq.SkipRetry) and show Message and Fix.
	Permanent bool
	// Message says what happened (the cause), naming the object, e.g.
	// "access denied to s3://b/k (GetObject: AccessDenied: Access Denied)".
	Message string
	// Fix says what to do about it.
	Fix string
}

// Transient is !Permanent: retry later (ErrChanged: list again first).
func (c Class) Transient() bool { return !c.Permanent }

// String renders "message: fix".
func (c Class) String() string {
	if c.Fix == "" {
		return c.Message
	}
	return c.Message + ": " + c.Fix
}

// Classify returns the verdict on an error from this package (or from the
// AWS SDK directly):
//
//   - 403 AccessDenied/Forbidden: permanent; KMS denials (KMS.* codes or
//     messages naming kms:) are reported as KMS problems.
//   - NoSuchBucket, NoSuchKey, NotFound, NoSuchVersion: permanent.
//   - PreconditionFailed (412, ErrChanged): transient, list again.
//   - InvalidAccessKeyId, SignatureDoesNotMatch, InvalidToken: permanent,
//     credentials rejected. ExpiredToken: transient (a cached provider
//     refreshes); a caller that sees it twice in a row for static keys
//     should treat it as permanent.
//   - a failing credentials provider: an STS error nested in the S3 error
//     is reported as "assume role failed" (permanent for denials,
//     transient for throttling and 5xx); other provider errors as
//     credential failures.
//   - SlowDown, 429, 5xx, network errors, timeouts, retry quota: transient.
//   - context cancellation: transient.
//   - other 4xx: permanent; anything else: transient.
func Classify(err error) Class {
	if err == nil {
		return Class{Kind: KindUnknown, Message: "no error"}
	}
	loc := location(err)

	// The credentials could not be obtained: STS, or another provider.
	if sts := findOperationError(err, "STS"); sts != nil {
		return classifySTS(sts, err)
	}
	var ce *CredentialsError
	if errors.As(err, &ce) {
		if isCanceled(ce.Err) {
			return canceled(err)
		}
		if isNetwork(ce.Err) {
			return Class{Kind: KindNetwork, Message: "cannot reach the credentials provider: " + ce.Err.Error(), Fix: "retrying"}
		}
		return Class{Kind: KindCredentials, Permanent: true,
			Message: "credentials could not be obtained: " + ce.Err.Error(),
			Fix:     "check the workspace's credential instance or AWS integration"}
	}

	if errors.Is(err, ErrChanged) {
		return Class{Kind: KindChanged, Message: loc.url + " changed since it was listed (ETag no longer matches)",
			Fix: "list the objects again and read the new version"}
	}
	if errors.Is(err, errNoSuchBucket) {
		return noSuchBucket(loc, err)
	}
	if isCanceled(err) {
		return canceled(err)
	}

	code, msg := apiError(err)
	status := httpStatus(err)
	detail := describe(loc, code, msg, status, err)
	switch {
	case strings.HasPrefix(code, "KMS."):
		if strings.Contains(code, "Throttling") {
			return Class{Kind: KindThrottled, Message: "KMS throttled decrypting " + loc.url + " " + detail, Fix: "retrying"}
		}
		return kmsDenied(loc, detail)
	}
	switch code {
	case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccessDeniedException":
		if strings.Contains(msg, "kms:") || strings.Contains(msg, "KMS") {
			return kmsDenied(loc, detail)
		}
		return Class{Kind: KindAccessDenied, Permanent: true, Message: "access denied to " + loc.url + " " + detail, Fix: accessFix(loc)}
	case "NoSuchBucket":
		return noSuchBucket(loc, err)
	case "NoSuchKey", "NotFound", "NoSuchVersion":
		what := "object " + loc.url
		if loc.versionID != "" {
			what += " version " + loc.versionID
		}
		fix := "it was deleted or renamed after it was listed; check the key and run the ingest again"
		if code == "NotFound" {
			what += " (or its bucket)"
		}
		return Class{Kind: KindNotFound, Permanent: true, Message: what + " does not exist " + detail, Fix: fix}
	case "PreconditionFailed":
		return Class{Kind: KindChanged, Message: loc.url + " changed since it was listed " + detail,
			Fix: "list the objects again and read the new version"}
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "InvalidClientTokenId", "UnrecognizedClientException":
		return Class{Kind: KindCredentials, Permanent: true, Message: "credentials rejected by S3 " + detail,
			Fix: "the access key does not exist, the secret key is wrong or the session token is malformed: update the credential instance"}
	case "ExpiredToken", "TokenRefreshRequired", "ExpiredTokenException":
		return Class{Kind: KindExpiredToken, Message: "session token expired " + detail,
			Fix: "retrying with refreshed credentials; if the credential instance holds a fixed session token, replace it"}
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "RequestThrottled", "RequestThrottledException":
		return Class{Kind: KindThrottled, Message: "S3 throttled requests for " + loc.url + " " + detail, Fix: "retrying later with backoff"}
	case "InternalError", "ServiceUnavailable", "RequestTimeout", "InternalFailure", "ServiceFailure":
		return Class{Kind: KindServer, Message: "S3 failed serving " + loc.url + " " + detail, Fix: "retrying later"}
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "TemporaryRedirect":
		return Class{Kind: KindWrongRegion, Message: "bucket " + loc.bucket + " answered from another region " + detail,
			Fix: "retrying: the bucket's region is looked up again"}
	case "InvalidObjectState":
		return Class{Kind: KindArchived, Permanent: true, Message: loc.url + " is archived (Glacier/Deep Archive) " + detail,
			Fix: "restore the object, or exclude archived objects with the glob"}
	case "RequestTimeTooSkewed":
		return Class{Kind: KindServer, Message: "request time too skewed " + detail, Fix: "retrying; check the worker's clock (NTP)"}
	}

	var qe ratelimit.QuotaExceededError // returned by value
	if errors.As(err, &qe) {
		return Class{Kind: KindThrottled, Message: "client-side retry quota exhausted for " + loc.url + " after repeated failures: " + err.Error(),
			Fix: "retrying later"}
	}
	switch {
	case status == 429 || status == 503:
		return Class{Kind: KindThrottled, Message: "S3 throttled requests for " + loc.url + " " + detail, Fix: "retrying later with backoff"}
	case status >= 500 || status == 408:
		return Class{Kind: KindServer, Message: "S3 failed serving " + loc.url + " " + detail, Fix: "retrying later"}
	case status == 403:
		return Class{Kind: KindAccessDenied, Permanent: true, Message: "access denied to " + loc.url + " " + detail, Fix: accessFix(loc)}
	case status == 404:
		return Class{Kind: KindNotFound, Permanent: true, Message: loc.url + " does not exist " + detail,
			Fix: "check the bucket and key and run the ingest again"}
	case status == 301 || status == 307:
		return Class{Kind: KindWrongRegion, Message: "bucket " + loc.bucket + " answered from another region " + detail,
			Fix: "retrying: the bucket's region is looked up again"}
	case status >= 400:
		return Class{Kind: KindInvalidRequest, Permanent: true, Message: "S3 rejected the request for " + loc.url + " " + detail,
			Fix: "this request is not expected to fail: report it with the cause"}
	}
	if errors.Is(err, ErrInvalidGlob) {
		return Class{Kind: KindInvalidRequest, Permanent: true, Message: err.Error(), Fix: "fix the glob pattern"}
	}
	if isNetwork(err) {
		return Class{Kind: KindNetwork, Message: "network error talking to S3 about " + loc.url + ": " + rootCause(err), Fix: "retrying"}
	}
	return Class{Kind: KindUnknown, Message: err.Error(), Fix: "retrying"}
}

// loc is where an error happened.
type loc struct {
	op, bucket, key, versionID, url string
}

func location(err error) loc {
	var oe *OpError
	if errors.As(err, &oe) {
		return loc{op: oe.Op, bucket: oe.Bucket, key: oe.Key, versionID: oe.VersionID, url: oe.URL()}
	}
	return loc{url: "the object"}
}

func describe(l loc, code, msg string, status int, err error) string {
	var b strings.Builder
	b.WriteByte('(')
	if l.op != "" {
		b.WriteString(l.op)
		b.WriteString(": ")
	}
	switch {
	case code != "":
		b.WriteString(code)
		if msg != "" && msg != code {
			b.WriteString(": ")
			b.WriteString(msg)
		}
	case status != 0:
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(status))
	default:
		b.WriteString(rootCause(err))
	}
	if status != 0 && code != "" {
		b.WriteString(", HTTP ")
		b.WriteString(strconv.Itoa(status))
	}
	b.WriteByte(')')
	return b.String()
}

func accessFix(l loc) string {
	switch {
	case strings.HasPrefix(l.op, "ListObjects"):
		return "check the role's policy allows s3:ListBucket on arn:aws:s3:::" + l.bucket +
			" (with an s3:prefix condition that covers the prefix), and that no bucket policy denies it"
	case strings.HasPrefix(l.op, "GetBucketRegion"), strings.HasPrefix(l.op, "HeadBucket"):
		return "check the bucket name and that the role's policy allows s3:ListBucket and s3:GetBucketLocation on arn:aws:s3:::" + l.bucket
	case l.key != "":
		perm := "s3:GetObject"
		if l.versionID != "" {
			perm = "s3:GetObject and s3:GetObjectVersion"
		}
		return "check the role's policy allows " + perm + " on arn:aws:s3:::" + l.bucket + "/" + l.key +
			" (e.g. arn:aws:s3:::" + l.bucket + "/*), and that no bucket policy denies it"
	default:
		return "check the role's policy allows s3:ListBucket, s3:GetObject and s3:GetObjectVersion on the bucket and its objects"
	}
}

func kmsDenied(l loc, detail string) Class {
	return Class{Kind: KindKMS, Permanent: true,
		Message: "access denied to the KMS key encrypting " + l.url + " " + detail,
		Fix:     "allow kms:Decrypt on the bucket's KMS key to the role, in both the role's policy and the key policy"}
}

func noSuchBucket(l loc, err error) Class {
	code, msg := apiError(err)
	return Class{Kind: KindNoSuchBucket, Permanent: true,
		Message: "bucket " + l.bucket + " does not exist " + describe(l, code, msg, httpStatus(err), err),
		Fix:     "check the bucket name in the ingest's source"}
}

func canceled(err error) Class {
	return Class{Kind: KindCanceled, Message: "canceled: " + rootCause(err), Fix: "the task is retried or resumed"}
}

// classifySTS reports an STS failure (AssumeRole of the workspace's
// integration) found inside err.
func classifySTS(sts *smithy.OperationError, err error) Class {
	code, msg := apiError(sts)
	status := httpStatus(sts)
	what := "assume role failed: " + sts.OperationName
	if code != "" {
		what += ": " + code
		if msg != "" {
			what += ": " + msg
		}
	} else {
		what += ": " + rootCause(sts)
	}
	switch {
	case isCanceled(sts):
		return canceled(err)
	case code == "AccessDenied":
		return Class{Kind: KindAssumeRole, Permanent: true, Message: what,
			Fix: "check the role ARN, and that the role's trust policy names the platform's User ARN as principal with the integration's External ID (sts:ExternalId)"}
	case code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidAccessKeyId":
		return Class{Kind: KindAssumeRole, Permanent: true, Message: what,
			Fix: "STS rejected the platform's own credentials: the operator must fix the daemon's AWS keys"}
	case code == "RegionDisabledException":
		return Class{Kind: KindAssumeRole, Permanent: true, Message: what, Fix: "activate STS in this region in the customer's account (IAM > Account settings)"}
	case code == "ValidationError" || code == "MalformedPolicyDocument" || code == "PackedPolicyTooLarge":
		return Class{Kind: KindAssumeRole, Permanent: true, Message: what, Fix: "check the role ARN and the session duration"}
	case code == "Throttling" || code == "ThrottlingException" || status == 429 || status >= 500 || isNetwork(sts):
		return Class{Kind: KindAssumeRole, Message: what, Fix: "retrying later"}
	case status >= 400:
		return Class{Kind: KindAssumeRole, Permanent: true, Message: what, Fix: "check the integration's role ARN and trust policy"}
	}
	return Class{Kind: KindAssumeRole, Message: what, Fix: "retrying later"}
}

// findOperationError walks err's whole tree (both Unwrap forms) for a
// *smithy.OperationError of service.
func findOperationError(err error, service string) *smithy.OperationError {
	var found *smithy.OperationError
	walk(err, func(e error) bool {
		if oe, ok := e.(*smithy.OperationError); ok && oe.ServiceID == service {
			found = oe
			return true
		}
		return false
	})
	return found
}

func walk(err error, f func(error) bool) bool {
	for err != nil {
		if f(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e, f) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// apiError returns the outermost API error's code and message.
func apiError(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

// errorCode returns the API error code of err, or "".
func errorCode(err error) string {
	code, _ := apiError(err)
	return code
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isCanceled(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	var ce *smithy.CanceledError
	if errors.As(err, &ce) {
		return true
	}
	// A deadline of the caller's context (not a transport timeout).
	return errors.Is(err, context.DeadlineExceeded) && !isTransportTimeout(err)
}

func isTransportTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded)
}

func isNetwork(err error) bool {
	var ne net.Error
	var se *smithyhttp.RequestSendError
	switch {
	case errors.As(err, &se), errors.As(err, &ne):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT):
		return true
	}
	return false
}

// rootCause returns the innermost error's text.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
