package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/bmatcuk/doublestar/v4"
)

// ObjectInfo identifies one object version and its size.
type ObjectInfo struct {
	Bucket string
	Key    string
	// VersionID is set by Head (and by callers that know it); List leaves
	// it empty because ListObjectsV2 does not report versions.
	VersionID string
	// ETag is the entity tag without its surrounding quotes.
	ETag         string
	Size         int64
	LastModified time.Time
}

// URL returns "s3://bucket/key".
func (o ObjectInfo) URL() string { return "s3://" + o.Bucket + "/" + o.Key }

// ErrInvalidGlob marks a glob pattern that does not parse. It is permanent
// (it has Permanent() true): the same pattern never parses.
var ErrInvalidGlob error = &permanentSentinel{msg: "invalid glob", fix: "fix the glob pattern"}

// permanentSentinel is a sentinel error that is permanent.
type permanentSentinel struct{ msg, fix string }

// Error returns the message.
func (e *permanentSentinel) Error() string { return e.msg }

// Permanent reports true.
func (e *permanentSentinel) Permanent() bool { return true }

// Fix says what to change.
func (e *permanentSentinel) Fix() string { return e.fix }

// globMeta are the characters that start a doublestar pattern construct.
const globMeta = `*?[{\`

// GlobPrefix returns the literal part of a glob before its first
// meta character (one of * ? [ { \): every key it matches starts with it.
func GlobPrefix(glob string) string {
	if i := strings.IndexAny(glob, globMeta); i >= 0 {
		return glob[:i]
	}
	return glob
}

// ListPrefix returns the prefix to list for a prefix and a glob, and false
// if no key can satisfy both (neither is an extension of the other).
func ListPrefix(prefix, glob string) (string, bool) {
	gp := GlobPrefix(glob)
	switch {
	case strings.HasPrefix(gp, prefix):
		return gp, true
	case strings.HasPrefix(prefix, gp):
		return prefix, true
	default:
		return "", false
	}
}

// MatchGlob reports whether key matches glob: a doublestar pattern over
// the full key ('*' stays within one '/'-separated segment, '**' crosses
// them, '?', '[a-z]', '{a,b}' and '\' escapes as usual). An empty glob
// matches every key.
func MatchGlob(glob, key string) (bool, error) {
	if glob == "" {
		return true, nil
	}
	ok, err := doublestar.Match(glob, key)
	if err != nil {
		return false, fmt.Errorf("%w %q: %v", ErrInvalidGlob, glob, err)
	}
	return ok, nil
}

// List calls fn for every object in bucket whose key starts with prefix and
// matches glob (see MatchGlob; "" matches all), in key order, page by page:
// nothing is accumulated. Keys ending in "/" (folder placeholders) are
// skipped. When the glob begins with literal text longer than prefix, only
// that narrower prefix is listed. An error from fn stops the listing and
// is returned as is.
func (c *Client) List(ctx context.Context, bucket, prefix, glob string, fn func(ObjectInfo) error) error {
	if glob != "" && !doublestar.ValidatePattern(glob) {
		return c.opError("ListObjectsV2", bucket, prefix, "",
			fmt.Errorf("%w %q: unbalanced brackets or braces, or a trailing backslash", ErrInvalidGlob, glob))
	}
	listPrefix, ok := ListPrefix(prefix, glob)
	if !ok {
		return nil
	}
	region, err := c.regionOpt(ctx, "ListObjectsV2", bucket, "")
	if err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if listPrefix != "" {
		in.Prefix = aws.String(listPrefix)
	}
	if c.opt.ListPageSize > 0 {
		in.MaxKeys = aws.Int32(c.opt.ListPageSize)
	}
	p := s3.NewListObjectsV2Paginator(c.s3, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, region)
		if err != nil {
			return c.wrap("ListObjectsV2", bucket, listPrefix, "", err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") || !strings.HasPrefix(key, prefix) {
				continue
			}
			if glob != "" && !doublestar.MatchUnvalidated(glob, key) {
				continue
			}
			info := ObjectInfo{
				Bucket:       bucket,
				Key:          key,
				ETag:         unquote(aws.ToString(o.ETag)),
				Size:         aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified),
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Head returns the current object, or the given version.
func (c *Client) Head(ctx context.Context, bucket, key, versionID string) (ObjectInfo, error) {
	region, err := c.regionOpt(ctx, "HeadObject", bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := c.s3.HeadObject(ctx, in, region)
	if err != nil {
		return ObjectInfo{}, c.wrap("HeadObject", bucket, key, versionID, err)
	}
	return ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		VersionID:    aws.ToString(out.VersionId),
		ETag:         unquote(aws.ToString(out.ETag)),
		Size:         aws.ToInt64(out.ContentLength),
		LastModified: aws.ToTime(out.LastModified),
	}, nil
}

func unquote(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}

func quote(etag string) string {
	if etag == "" || etag[0] == '"' || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

// Selection names the objects of a job: explicit Keys (each looked up with
// HeadObject, VersionID pinning the version of a single key), or every
// object under Prefix whose key matches Glob. It mirrors jobs.Source,
// which this package does not import.
type Selection struct {
	Bucket, Prefix, Glob string
	Keys                 []string
	VersionID            string
}

// StopEach may be returned by an Each visit function to end the walk
// early; Each then returns nil.
var StopEach = errors.New("stop walking the objects")

// Each calls visit for every object of sel, one at a time, in order: the
// explicit keys (one HeadObject each, so a missing key is an error) or
// the listing of prefix and glob (see List). An error from visit stops
// the walk and is returned as is, except StopEach, which ends it without
// an error. It is the one listing loop of ingest, preview and verify.
func (c *Client) Each(ctx context.Context, sel Selection, visit func(ObjectInfo) error) error {
	var err error
	if len(sel.Keys) > 0 {
		err = c.eachKey(ctx, sel, visit)
	} else {
		err = c.List(ctx, sel.Bucket, sel.Prefix, sel.Glob, visit)
	}
	if errors.Is(err, StopEach) {
		return nil
	}
	return err
}

func (c *Client) eachKey(ctx context.Context, sel Selection, visit func(ObjectInfo) error) error {
	for _, k := range sel.Keys {
		info, err := c.Head(ctx, sel.Bucket, k, sel.VersionID)
		if err != nil {
			return err
		}
		if err := visit(info); err != nil {
			return err
		}
	}
	return nil
}
