package source_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3ingest/s3ingest/worker/source"
)

// s3Err builds the error shape the SDK returns for an S3 API error:
// OperationError{ResponseError{HTTP status, APIError}}, wrapped in the
// package's OpError.
func s3Err(op, key string, status int, code, msg string) error {
	api := &smithy.GenericAPIError{Code: code, Message: msg}
	resp := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: api}}
	return &source.OpError{Op: op, Bucket: "b", Key: key,
		Err: &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: resp}}
}

// fakeClassified is an error that classifies itself, as credstore's do.
type fakeClassified struct {
	msg, fix  string
	permanent bool
}

func (e *fakeClassified) Error() string   { return e.msg }
func (e *fakeClassified) Permanent() bool { return e.permanent }
func (e *fakeClassified) Fix() string     { return e.fix }

// provErr is err returned by the credentials provider of a GetObject.
func provErr(err error) error {
	return &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject",
		Err: fmt.Errorf("get identity: %w", &source.CredentialsError{Err: fmt.Errorf("failed to refresh cached credentials, %w", err)})}}
}

// fixed marks an OpError as made by a client whose credentials cannot refresh.
func fixed(err error) error {
	err.(*source.OpError).FixedCredentials = "credential cred_1"
	return err
}

// custom marks an OpError as made by a client of a custom endpoint.
func custom(err error) error {
	oe := err.(*source.OpError)
	oe.Endpoint, oe.Region = "https://s3.example.net", "us-east-1"
	return err
}

// redirect is a HeadObject answered with status and x-amz-bucket-region.
func redirect(status int, region string) error {
	h := http.Header{}
	h.Set("X-Amz-Bucket-Region", region)
	resp := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: h}}, Err: errors.New("moved")}}
	return &source.OpError{Op: "HeadObject", Bucket: "b", Key: "k", Err: &smithy.OperationError{ServiceID: "S3", OperationName: "HeadObject", Err: resp}}
}

func TestClassifyTable(t *testing.T) {
	stsDenied := &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 403}},
		Err:      &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}}}}
	nestedSTS := &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject",
		Err: fmt.Errorf("get identity: %w", fmt.Errorf("get credentials: %w", &source.CredentialsError{Err: fmt.Errorf("failed to refresh cached credentials, %w", stsDenied)}))}}

	cases := []struct {
		name      string
		err       error
		kind      source.Kind
		permanent bool
		msgHas    string
		fixHas    string
	}{
		{"get denied", s3Err("GetObject", "k", 403, "AccessDenied", "Access Denied"), source.KindAccessDenied, true, "access denied to s3://b/k", "s3:GetObject on arn:aws:s3:::b/k"},
		{"head forbidden", s3Err("HeadObject", "k", 403, "Forbidden", ""), source.KindAccessDenied, true, "access denied to s3://b/k (HeadObject: Forbidden, HTTP 403)", "s3:GetObject"},
		{"list denied", s3Err("ListObjectsV2", "pre/", 403, "AccessDenied", "Access Denied"), source.KindAccessDenied, true, "access denied to s3://b/pre/", "s3:ListBucket on arn:aws:s3:::b"},
		{"kms message", s3Err("GetObject", "k", 403, "AccessDenied", "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: kms:Decrypt"), source.KindKMS, true, "KMS key encrypting s3://b/k", "kms:Decrypt"},
		{"kms code", s3Err("GetObject", "k", 400, "KMS.DisabledException", "key disabled"), source.KindKMS, true, "KMS", "kms:Decrypt"},
		{"kms throttled", s3Err("GetObject", "k", 400, "KMS.ThrottlingException", "slow"), source.KindThrottled, false, "KMS throttled", ""},
		{"no such bucket", s3Err("ListObjectsV2", "", 404, "NoSuchBucket", "The specified bucket does not exist"), source.KindNoSuchBucket, true, "bucket b does not exist", "bucket name"},
		{"no such key", s3Err("GetObject", "k", 404, "NoSuchKey", ""), source.KindNotFound, true, "object s3://b/k does not exist", ""},
		{"head not found", s3Err("HeadObject", "k", 404, "NotFound", ""), source.KindNotFound, true, "s3://b/k (or its bucket) does not exist", ""},
		{"precondition", s3Err("GetObject", "k", 412, "PreconditionFailed", ""), source.KindChanged, false, "s3://b/k changed", "lists the objects again"},
		{"changed sentinel", &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: fmt.Errorf("%w: x", source.ErrChanged)}, source.KindChanged, false, "s3://b/k changed", ""},
		{"invalid key id", s3Err("GetObject", "k", 403, "InvalidAccessKeyId", ""), source.KindCredentials, true, "credentials rejected", "credential instance"},
		{"bad signature", s3Err("GetObject", "k", 403, "SignatureDoesNotMatch", ""), source.KindCredentials, true, "credentials rejected", ""},
		{"invalid token", s3Err("GetObject", "k", 400, "InvalidToken", ""), source.KindCredentials, true, "credentials rejected", ""},
		{"expired token", s3Err("GetObject", "k", 400, "ExpiredToken", ""), source.KindExpiredToken, false, "session token expired", "refreshed"},
		{"slow down", s3Err("GetObject", "k", 503, "SlowDown", "Please reduce"), source.KindThrottled, false, "throttled", ""},
		{"slow down after retries", &retry.MaxAttemptsError{Attempt: 3, Err: s3Err("GetObject", "k", 503, "SlowDown", "")}, source.KindThrottled, false, "s3://b/k", ""},
		{"internal error", s3Err("GetObject", "k", 500, "InternalError", ""), source.KindServer, false, "S3 failed serving s3://b/k", ""},
		{"bare 502", s3Err("GetObject", "k", 502, "", ""), source.KindServer, false, "HTTP 502", ""},
		{"redirect", s3Err("GetObject", "k", 301, "PermanentRedirect", ""), source.KindWrongRegion, false, "another region", ""},
		{"glacier", s3Err("GetObject", "k", 403, "InvalidObjectState", ""), source.KindArchived, true, "archived", "restore"},
		{"unknown 4xx", s3Err("GetObject", "k", 400, "InvalidArgument", "bad"), source.KindInvalidRequest, true, "rejected", ""},
		{"retry quota", &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: fmt.Errorf("retry quota exceeded: %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5})}, source.KindThrottled, false, "quota", ""},
		{"raw STS denial (not classified by its provider)", nestedSTS, source.KindAssumeRole, true, "credentials for GetObject s3://b/k could not be obtained", "credential"},
		{"provider error classified transient", provErr(&fakeClassified{msg: "sts:AssumeRole failed: throttled"}), source.KindCredentials, false, "sts:AssumeRole failed: throttled", ""},
		{"provider error classified permanent", provErr(&fakeClassified{msg: "sts:AssumeRole failed: access denied", permanent: true, fix: "trust the platform"}), source.KindCredentials, true, "access denied", "trust the platform"},
		{"expired token of fixed credentials", fixed(s3Err("GetObject", "k", 400, "ExpiredToken", "")), source.KindExpiredToken, true, "session token stored with credential cred_1 has expired", "store current keys"},
		{"wrong region on AWS", s3Err("GetObject", "k", 400, "AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong; expecting 'eu-west-1'"), source.KindWrongRegion, false, "another region", "looked up again"},
		{"wrong region on an endpoint, from the message", custom(s3Err("GetObject", "k", 400, "AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong; expecting 'eu-west-1'")), source.KindWrongRegion, true, "is in region eu-west-1, not us-east-1", "set the region configured with endpoint https://s3.example.net to eu-west-1"},
		{"wrong region on an endpoint, from the header", custom(redirect(301, "eu-central-1")), source.KindWrongRegion, true, "eu-central-1", "to eu-central-1"},
		{"wrong region on an endpoint, unsaid", custom(s3Err("HeadObject", "k", 307, "", "")), source.KindWrongRegion, true, "not in region us-east-1", "to the bucket's region"},
		{"provider failure", &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: fmt.Errorf("get identity: %w", &source.CredentialsError{Err: errors.New("no integration for workspace w1")})}, source.KindCredentials, true, "no integration for workspace w1", ""},
		{"provider network", &source.CredentialsError{Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, source.KindNetwork, false, "credentials provider", ""},
		{"canceled", &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: &smithy.CanceledError{Err: context.Canceled}}, source.KindCanceled, false, "canceled", ""},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), source.KindCanceled, false, "canceled", ""},
		{"conn reset", &source.OpError{Op: "GetObject", Bucket: "b", Key: "k", Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}}, source.KindNetwork, false, "network error talking to S3 about s3://b/k", ""},
		{"unexpected EOF", fmt.Errorf("read s3://b/k: %w", io.ErrUnexpectedEOF), source.KindNetwork, false, "network", ""},
		{"invalid glob", fmt.Errorf("%w %q", source.ErrInvalidGlob, "[a"), source.KindInvalidRequest, true, "invalid glob", "glob"},
		{"something else", errors.New("weird"), source.KindUnknown, false, "weird", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := source.Classify(c.err)
			if cl.Kind != c.kind || cl.Permanent != c.permanent || !strings.Contains(cl.Message, c.msgHas) || !strings.Contains(cl.Fix, c.fixHas) {
				t.Errorf("Classify(%v)\n = %+v\nwant kind %s permanent %v message ~%q fix ~%q", c.err, cl, c.kind, c.permanent, c.msgHas, c.fixHas)
			}
			if cl.Transient() == cl.Permanent {
				t.Errorf("Transient() inconsistent")
			}
			// The error itself carries the same verdict, found by the one
			// errors.As of the shared contract.
			var own interface {
				Permanent() bool
				Fix() string
			}
			if errors.As(c.err, &own) && (own.Permanent() != cl.Permanent || own.Fix() != cl.Fix) {
				t.Errorf("the error's own verdict (permanent %v, fix %q) differs from Classify's", own.Permanent(), own.Fix())
			}
		})
	}
}
