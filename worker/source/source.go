// Package source reads customers' S3 objects: it finds a bucket's region,
// lists keys under a prefix filtered by a glob, and streams objects, whole or
// by range, pinned to the version that was listed (If-Match on the ETag, or
// the version ID), so that an object overwritten mid-read fails with
// ErrChanged instead of mixing two versions.
//
// It knows S3, not parsers: *Object has the method set of parsers.Object
// (Name, Size, Open) plus io.ReaderAt, without importing the parsers
// package. Its errors carry their verdict (*OpError has Permanent and Fix,
// the shared contract of s3ingest's packages); Classify gives the verdict on
// any error of this package or of the AWS SDK as a Class with a cause and a
// fix for the user.
package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultRegion is the region used when Options.Region is empty: the
// signing region for region discovery and for custom endpoints.
const DefaultRegion = "us-east-1"

// Options configure a Client. The zero value talks to AWS with the SDK's
// defaults: region discovery per bucket, virtual-hosted addressing, the
// SDK's default HTTP client, standard retries (3 attempts), 1000 keys per
// list page.
type Options struct {
	// Region is the region to sign for. For AWS it is only the starting
	// point: each bucket's own region is discovered (BucketRegion) and used
	// for its requests. With a custom Endpoint it is the region of every
	// request. Default DefaultRegion.
	Region string
	// Endpoint is a custom S3 endpoint (an S3-compatible server), e.g.
	// "http://127.0.0.1:8333". When set, requests use it as BaseEndpoint
	// with checksums only when required, and regions are not discovered.
	Endpoint string
	// UsePathStyle forces path-style addressing (bucket in the path). It is
	// implied by Endpoint unless VirtualHostStyle is set.
	UsePathStyle bool
	// VirtualHostStyle keeps virtual-hosted addressing with a custom
	// Endpoint.
	VirtualHostStyle bool
	// HTTPClient sends the requests (default: the SDK's).
	HTTPClient *http.Client
	// RetryMaxAttempts is the SDK's attempt limit per request (default 3,
	// the SDK's standard retryer). Transient failures left after these
	// attempts are returned and classified by Classify.
	RetryMaxAttempts int
	// ListPageSize is MaxKeys of each ListObjectsV2 page (default: the
	// server's, 1000 on AWS).
	ListPageSize int32
	// Regions caches bucket regions; share one across Clients so that
	// each bucket is looked up once per process (default: a cache private
	// to the Client).
	Regions *RegionCache
	// APIOptions adjust the s3.Options of every request (tests, tracing).
	APIOptions []func(*s3.Options)
	// FixedCredentials names credentials that cannot refresh, e.g.
	// "credential cred_1" for a stored access key with a session token:
	// S3 saying the session token expired is then permanent, with a fix
	// naming them. Empty means the credentials refresh (an integration's
	// role session): an expired token is transient.
	FixedCredentials string
	// Fetch says how Object.Open reads long ranges: in parts of
	// Fetch.PartSize bytes, Fetch.Concurrency at once (default 4 MiB × 8,
	// at most 32 MiB of buffers per read). Values out of range are clamped;
	// check them with FetchOptions.Validate.
	Fetch FetchOptions
}

// Client reads S3 objects with one set of credentials. It is safe for
// concurrent use.
type Client struct {
	s3      *s3.Client
	creds   aws.CredentialsProvider // as given to the SDK (nil: anonymous)
	opt     Options
	regions *RegionCache
	fetch   FetchOptions // opt.Fetch with defaults
}

// New returns a Client that signs with creds (nil means anonymous
// requests). Errors from creds are reported as credential failures; when
// they classify themselves (credstore's AssumeRoleError), their verdict is
// the S3 error's.
func New(creds aws.CredentialsProvider, opt Options) *Client {
	if opt.Region == "" {
		opt.Region = DefaultRegion
	}
	if opt.Regions == nil {
		opt.Regions = NewRegionCache(0)
	}
	o := s3.Options{
		Region:           opt.Region,
		RetryMaxAttempts: opt.RetryMaxAttempts,
	}
	if opt.HTTPClient != nil {
		o.HTTPClient = opt.HTTPClient
	}
	if creds != nil {
		o.Credentials = &credentialsProvider{p: creds}
	}
	if opt.Endpoint != "" {
		o.BaseEndpoint = aws.String(opt.Endpoint)
		o.UsePathStyle = !opt.VirtualHostStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	if opt.UsePathStyle {
		o.UsePathStyle = true
	}
	c := s3.New(o, opt.APIOptions...)
	return &Client{s3: c, creds: o.Credentials, opt: opt, regions: opt.Regions, fetch: opt.Fetch.withDefaults()}
}

// S3 returns the underlying SDK client (for operations this package does
// not wrap). Its requests are not pinned to a bucket's region.
func (c *Client) S3() *s3.Client { return c.s3 }

// credentialsProvider marks errors of the wrapped provider as
// *CredentialsError, so Classify can tell "the credentials could not be
// obtained" from "S3 refused the request".
type credentialsProvider struct{ p aws.CredentialsProvider }

func (c *credentialsProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	v, err := c.p.Retrieve(ctx)
	if err != nil {
		return v, &CredentialsError{Err: err}
	}
	return v, nil
}

// CredentialsError is a failure of the credentials provider given to New
// (for example an STS AssumeRole that was denied); it is found nested inside
// the S3 operation error.
type CredentialsError struct{ Err error }

// Error describes the provider failure.
func (e *CredentialsError) Error() string { return "resolve credentials: " + e.Err.Error() }

// Unwrap returns the provider's error.
func (e *CredentialsError) Unwrap() error { return e.Err }

// RegionCache remembers the region of each bucket. It is safe for
// concurrent use. Lookups of one bucket are not deduplicated: two
// concurrent first lookups both ask S3 (they are cheap and rare).
type RegionCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]regionEntry
}

type regionEntry struct {
	region string
	at     time.Time
}

// NewRegionCache returns a cache whose entries live for ttl (0 means 6h).
// Failed lookups are not cached.
func NewRegionCache(ttl time.Duration) *RegionCache {
	if ttl <= 0 {
		ttl = 6 * time.Hour
	}
	return &RegionCache{ttl: ttl, m: map[string]regionEntry{}}
}

func (rc *RegionCache) get(bucket string) (string, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.m[bucket]
	if !ok || time.Since(e.at) > rc.ttl {
		return "", false
	}
	return e.region, true
}

func (rc *RegionCache) put(bucket, region string) {
	rc.mu.Lock()
	rc.m[bucket] = regionEntry{region: region, at: time.Now()}
	rc.mu.Unlock()
}

// Forget drops a bucket's cached region (after a redirect says it moved).
func (rc *RegionCache) Forget(bucket string) {
	rc.mu.Lock()
	delete(rc.m, bucket)
	rc.mu.Unlock()
}

// BucketRegion returns the bucket's region. On AWS it asks S3 once per
// bucket (manager.GetBucketRegion: an unsigned HeadBucket that reads
// x-amz-bucket-region, which works whatever the caller's permissions; if
// that fails, the same request signed) and caches the answer. With a custom Endpoint it returns the configured
// region without a request.
func (c *Client) BucketRegion(ctx context.Context, bucket string) (string, error) {
	if c.opt.Endpoint != "" {
		return c.opt.Region, nil
	}
	if r, ok := c.regions.get(bucket); ok {
		return r, nil
	}
	r, err := manager.GetBucketRegion(ctx, c.s3, bucket)
	if err != nil && !isCanceled(err) && c.creds != nil {
		// Some servers and VPC endpoint policies refuse anonymous requests
		// without naming the region; ask again, signed.
		r2, err2 := manager.GetBucketRegion(ctx, c.s3, bucket, func(o *s3.Options) { o.Credentials = c.creds })
		if err2 == nil || r2 != "" {
			r, err = r2, nil
		} else {
			err = err2 // the signed answer says more (404 rather than 403)
		}
	}
	if err != nil {
		var nf manager.BucketNotFound
		if errors.As(err, &nf) {
			err = fmt.Errorf("%w: %w", errNoSuchBucket, err)
		}
		return "", c.opError("GetBucketRegion", bucket, "", "", err)
	}
	if r == "" {
		// S3-compatible servers may omit x-amz-bucket-region.
		r = c.opt.Region
	}
	c.regions.put(bucket, r)
	return r, nil
}

// errNoSuchBucket marks a bucket that region discovery did not find.
var errNoSuchBucket = errors.New("no such bucket")

// regionOpt returns the per-request option pinning a request to the
// bucket's region.
func (c *Client) regionOpt(ctx context.Context, op, bucket, key string) (func(*s3.Options), error) {
	region, err := c.BucketRegion(ctx, bucket)
	if err != nil {
		var oe *OpError
		if errors.As(err, &oe) {
			oe.Op, oe.Key = op+" (region lookup)", key
		}
		return nil, err
	}
	return func(o *s3.Options) { o.Region = region }, nil
}

// OpError is an S3 operation that failed, with the bucket and key it was
// about and what the client knew (its endpoint, region, and whether its
// credentials can refresh). It carries its verdict: Permanent and Fix (see
// Classify); permanent ones read as cause and fix.
type OpError struct {
	// Op is the S3 operation, e.g. "GetObject".
	Op string
	// Bucket, Key and VersionID locate the object (Key is "" for bucket
	// operations).
	Bucket, Key, VersionID string
	// Endpoint is the client's custom S3 endpoint ("" for AWS) and Region
	// the region its requests are signed for there.
	Endpoint, Region string
	// FixedCredentials is the client's Options.FixedCredentials.
	FixedCredentials string
	// Err is the SDK's error.
	Err error
}

// Error names the operation and the object; a permanent error reads as
// its cause and its fix (Class().String()).
func (e *OpError) Error() string {
	if cl := e.Class(); cl.Permanent {
		return cl.String()
	}
	return e.Op + " " + e.URL() + ": " + e.Err.Error()
}

// Unwrap returns the SDK's error.
func (e *OpError) Unwrap() error { return e.Err }

// Class returns the verdict on the failure (see Classify).
func (e *OpError) Class() Class {
	return classify(e.Err, loc{op: e.Op, bucket: e.Bucket, key: e.Key, versionID: e.VersionID, url: e.URL(),
		endpoint: e.Endpoint, region: e.Region, fixed: e.FixedCredentials})
}

// Permanent reports whether retrying the operation cannot succeed. A
// classified error nested in it (a credentials provider's) decides.
func (e *OpError) Permanent() bool { return e.Class().Permanent }

// Fix says what to change so the operation succeeds (or that a retry
// will do).
func (e *OpError) Fix() string { return e.Class().Fix }

// URL returns "s3://bucket/key" (or "s3://bucket" for bucket operations).
func (e *OpError) URL() string {
	if e.Key == "" {
		return "s3://" + e.Bucket
	}
	return "s3://" + e.Bucket + "/" + e.Key
}

// wrap turns an SDK error into an *OpError and forgets the bucket's region
// when S3 says it is wrong.
func (c *Client) wrap(op, bucket, key, versionID string, err error) error {
	if code := errorCode(err); code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || code == "IllegalLocationConstraintException" {
		c.regions.Forget(bucket)
	}
	return c.opError(op, bucket, key, versionID, err)
}

// opError returns an *OpError with the client's endpoint, region and
// credentials kind.
func (c *Client) opError(op, bucket, key, versionID string, err error) *OpError {
	oe := &OpError{Op: op, Bucket: bucket, Key: key, VersionID: versionID, FixedCredentials: c.opt.FixedCredentials, Err: err}
	if c.opt.Endpoint != "" {
		oe.Endpoint, oe.Region = c.opt.Endpoint, c.opt.Region
	}
	return oe
}
