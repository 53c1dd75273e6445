package source

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
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

// String renders "message: fix" (the message alone when it already ends
// with the fix, as a nested classified error's may).
func (c Class) String() string {
	if c.Fix == "" || strings.HasSuffix(c.Message, c.Fix) {
		return c.Message
	}
	return c.Message + ": " + c.Fix
}

// Classify returns the verdict on an error from this package (or from the
// AWS SDK directly). Errors returned by this package carry the same verdict
// themselves (*OpError's Permanent and Fix); Classify is for messages and
// for errors built elsewhere.
//
//   - an error that classifies itself (it has a Permanent() bool method),
//     found inside: its verdict. This is how a failing credentials provider
//     is judged: credstore's AssumeRoleError (the one table of STS errors)
//     is transient for throttling and 5xx, permanent for denials, whether
//     the failure happens at the start of a job or at a refresh mid-run.
//     Other provider errors: transient for cancellation, network failures,
//     429 and 5xx; permanent otherwise.
//   - 403 AccessDenied/Forbidden: permanent; KMS denials (KMS.* codes or
//     messages naming kms:) are reported as KMS problems.
//   - NoSuchBucket, NoSuchKey, NotFound, NoSuchVersion: permanent.
//   - PreconditionFailed (412, ErrChanged): transient, list again.
//   - InvalidAccessKeyId, SignatureDoesNotMatch, InvalidToken: permanent,
//     credentials rejected. ExpiredToken: transient (a cached provider
//     refreshes), permanent when the client's credentials cannot refresh
//     (Options.FixedCredentials).
//   - a wrong region (PermanentRedirect, AuthorizationHeaderMalformed,
//     301/307): on AWS transient (the bucket's region is looked up again);
//     with a custom Endpoint permanent, naming the region the server asked
//     for when it said (x-amz-bucket-region, or the message).
//   - SlowDown, 429, 5xx, network errors, timeouts, retry quota: transient.
//   - context cancellation: transient.
//   - other 4xx, an invalid glob: permanent; anything else: transient.
func Classify(err error) Class {
	if err == nil {
		return Class{Kind: KindUnknown, Message: "no error"}
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Class()
	}
	return classify(err, loc{url: "the object"})
}

// classify judges err, the cause of a failure at l.
func classify(err error, l loc) Class {
	if errors.Is(err, ErrInvalidGlob) {
		return Class{Kind: KindInvalidRequest, Permanent: true, Message: err.Error(), Fix: "fix the glob pattern"}
	}
	if isCanceled(err) {
		return canceled(err)
	}
	// An error that knows its class (credstore's, a refused endpoint...)
	// knows better than the S3 error around it.
	var c interface{ Permanent() bool }
	if errors.As(err, &c) {
		return nested(c, err, l)
	}
	var ce *CredentialsError
	if errors.As(err, &ce) {
		return providerFailure(ce, err, l)
	}

	if errors.Is(err, ErrChanged) {
		return Class{Kind: KindChanged, Message: l.url + " changed since it was listed (ETag no longer matches)",
			Fix: "retrying: the next attempt lists the objects again and reads the new version whole (no read mixes two versions)"}
	}
	if errors.Is(err, errNoSuchBucket) {
		return noSuchBucket(l, err)
	}

	code, msg := apiError(err)
	status := httpStatus(err)
	detail := describe(l, code, msg, status, err)
	switch {
	case strings.HasPrefix(code, "KMS."):
		if strings.Contains(code, "Throttling") {
			return Class{Kind: KindThrottled, Message: "KMS throttled decrypting " + l.url + " " + detail, Fix: "retrying"}
		}
		return kmsDenied(l, detail)
	}
	switch code {
	case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccessDeniedException":
		if strings.Contains(msg, "kms:") || strings.Contains(msg, "KMS") {
			return kmsDenied(l, detail)
		}
		return Class{Kind: KindAccessDenied, Permanent: true, Message: "access denied to " + l.url + " " + detail, Fix: accessFix(l)}
	case "NoSuchBucket":
		return noSuchBucket(l, err)
	case "NoSuchKey", "NotFound", "NoSuchVersion":
		what := "object " + l.url
		if l.versionID != "" {
			what += " version " + l.versionID
		}
		fix := "it was deleted or renamed after it was listed; check the key and run the ingest again"
		if code == "NotFound" {
			what += " (or its bucket)"
		}
		return Class{Kind: KindNotFound, Permanent: true, Message: what + " does not exist " + detail, Fix: fix}
	case "PreconditionFailed":
		return Class{Kind: KindChanged, Message: l.url + " changed since it was listed " + detail,
			Fix: "retrying: the next attempt lists the objects again and reads the new version whole (no read mixes two versions)"}
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "InvalidClientTokenId", "UnrecognizedClientException":
		return Class{Kind: KindCredentials, Permanent: true, Message: "credentials rejected by S3 " + detail,
			Fix: "the access key does not exist, the secret key is wrong or the session token is malformed: update the credential instance"}
	case "ExpiredToken", "TokenRefreshRequired", "ExpiredTokenException":
		if l.fixed != "" {
			return Class{Kind: KindExpiredToken, Permanent: true, Message: "the session token stored with " + l.fixed + " has expired " + detail,
				Fix: "stored credentials cannot refresh: store current keys (long-term keys, or a new session token) and name them in the job"}
		}
		return Class{Kind: KindExpiredToken, Message: "session token expired " + detail,
			Fix: "retrying with refreshed credentials; if the credential instance holds a fixed session token, replace it"}
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "RequestThrottled", "RequestThrottledException":
		return Class{Kind: KindThrottled, Message: "S3 throttled requests for " + l.url + " " + detail, Fix: "retrying later with backoff"}
	case "InternalError", "ServiceUnavailable", "RequestTimeout", "InternalFailure", "ServiceFailure":
		return Class{Kind: KindServer, Message: "S3 failed serving " + l.url + " " + detail, Fix: "retrying later"}
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "TemporaryRedirect":
		return wrongRegion(l, detail, err)
	case "InvalidObjectState":
		return Class{Kind: KindArchived, Permanent: true, Message: l.url + " is archived (Glacier/Deep Archive) " + detail,
			Fix: "restore the object, or exclude archived objects with the glob"}
	case "RequestTimeTooSkewed":
		return Class{Kind: KindServer, Message: "request time too skewed " + detail, Fix: "retrying; check the worker's clock (NTP)"}
	}

	var qe ratelimit.QuotaExceededError // returned by value
	if errors.As(err, &qe) {
		return Class{Kind: KindThrottled, Message: "client-side retry quota exhausted for " + l.url + " after repeated failures: " + err.Error(),
			Fix: "retrying later"}
	}
	switch {
	case status == 429 || status == 503:
		return Class{Kind: KindThrottled, Message: "S3 throttled requests for " + l.url + " " + detail, Fix: "retrying later with backoff"}
	case status >= 500 || status == 408:
		return Class{Kind: KindServer, Message: "S3 failed serving " + l.url + " " + detail, Fix: "retrying later"}
	case status == 403:
		return Class{Kind: KindAccessDenied, Permanent: true, Message: "access denied to " + l.url + " " + detail, Fix: accessFix(l)}
	case status == 404:
		return Class{Kind: KindNotFound, Permanent: true, Message: l.url + " does not exist " + detail,
			Fix: "check the bucket and key and run the ingest again"}
	case status == 301 || status == 307:
		return wrongRegion(l, detail, err)
	case status >= 400:
		return Class{Kind: KindInvalidRequest, Permanent: true, Message: "S3 rejected the request for " + l.url + " " + detail,
			Fix: "this request is not expected to fail: report it with the cause"}
	}
	if isNetwork(err) {
		return Class{Kind: KindNetwork, Message: "network error talking to S3 about " + l.url + ": " + rootCause(err), Fix: "retrying"}
	}
	return Class{Kind: KindUnknown, Message: l.prefix() + err.Error(), Fix: "retrying"}
}

// nested reports the verdict of c, a classified error found inside err
// (the failure at l): its class, its message and its fix.
func nested(c interface{ Permanent() bool }, err error, l loc) Class {
	inner, _ := c.(error) // errors.As found it in err's tree: it is an error
	// The whole chain: a sentinel's own text may lack the detail around it.
	cl := Class{Kind: KindUnknown, Permanent: c.Permanent(), Message: l.prefix() + err.Error()}
	if f, ok := c.(interface{ Fix() string }); ok {
		cl.Fix = f.Fix()
	}
	var ce *CredentialsError
	if errors.As(err, &ce) {
		cl.Kind = KindCredentials
		if findOperationError(ce, "STS") != nil {
			cl.Kind = KindAssumeRole
		}
		cl.Message = "credentials for " + l.what() + " could not be obtained: " + inner.Error()
	}
	if cl.Fix == "" && !cl.Permanent {
		cl.Fix = "retrying"
	}
	return cl
}

// providerFailure judges a failure of the credentials provider that does
// not classify itself.
func providerFailure(ce *CredentialsError, err error, l loc) Class {
	kind := KindCredentials
	if findOperationError(ce, "STS") != nil {
		kind = KindAssumeRole
	}
	what := "credentials for " + l.what() + " could not be obtained: " + ce.Err.Error()
	switch st := httpStatus(ce.Err); {
	case isNetwork(ce.Err):
		return Class{Kind: KindNetwork, Message: "cannot reach the credentials provider: " + ce.Err.Error(), Fix: "retrying"}
	case st == 429 || st >= 500:
		return Class{Kind: kind, Message: what, Fix: "retrying later"}
	}
	return Class{Kind: kind, Permanent: true, Message: what,
		Fix: "check the workspace's credential instance or AWS integration"}
}

// regionInMessage finds the region an S3 error message asks for, as in
// "the region 'us-east-1' is wrong; expecting 'eu-west-1'".
var regionInMessage = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// askedRegion returns the region the server said the bucket is in: the
// x-amz-bucket-region header of its answer, or the region its message
// expects; "" if it did not say.
func askedRegion(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil {
		if r := re.Response.Header.Get("X-Amz-Bucket-Region"); r != "" {
			return r
		}
	}
	if _, msg := apiError(err); msg != "" {
		if m := regionInMessage.FindStringSubmatch(msg); m != nil {
			return m[1]
		}
	}
	return ""
}

// wrongRegion reports a bucket that answered from another region. On AWS
// the client looks the bucket's region up again (wrap forgets the cached
// one), so a retry helps; a custom endpoint's region is configured, so
// only changing it helps.
func wrongRegion(l loc, detail string, err error) Class {
	if l.endpoint == "" {
		return Class{Kind: KindWrongRegion, Message: "bucket " + l.bucket + " answered from another region " + detail,
			Fix: "retrying: the bucket's region is looked up again"}
	}
	cl := Class{Kind: KindWrongRegion, Permanent: true,
		Message: "bucket " + l.bucket + " at " + l.endpoint + " is not in region " + l.region + ", the region its requests are signed for " + detail,
		Fix:     "set the region configured with endpoint " + l.endpoint + " to the bucket's region"}
	if want := askedRegion(err); want != "" {
		cl.Message = "bucket " + l.bucket + " at " + l.endpoint + " is in region " + want + ", not " + l.region + " " + detail
		cl.Fix = "set the region configured with endpoint " + l.endpoint + " to " + want
	}
	return cl
}

// loc is where an error happened, and what the client knew.
type loc struct {
	op, bucket, key, versionID, url string
	// endpoint and region: the client's custom endpoint ("" for AWS) and
	// the region its requests are signed for there.
	endpoint, region string
	// fixed names credentials that cannot refresh ("" if they can).
	fixed string
}

// what names the operation and the object, e.g. "GetObject s3://b/k".
func (l loc) what() string {
	if l.op == "" {
		return l.url
	}
	return l.op + " " + l.url
}

// prefix is what() followed by ": ", or "" when the place is unknown.
func (l loc) prefix() string {
	if l.op == "" {
		return ""
	}
	return l.what() + ": "
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
