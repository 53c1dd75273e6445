package credstore

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// PolicyVersion is the IAM policy language version of generated documents.
const PolicyVersion = "2012-10-17"

// BucketScope is one bucket, optionally narrowed to a key prefix, that a
// permission policy grants read access to.
type BucketScope struct {
	// Bucket is the bucket name (required).
	Bucket string
	// Prefix narrows access to keys starting with it ("" = whole bucket).
	// A leading "/" is dropped. IAM wildcards in it (*, ?, $) are escaped.
	Prefix string
}

// PolicyDocument is an IAM policy. Field order is fixed so the JSON is
// stable.
type PolicyDocument struct {
	// Version is PolicyVersion.
	Version string `json:"Version"`
	// Statement lists the statements in order.
	Statement []PolicyStatement `json:"Statement"`
}

// PolicyStatement is one statement of a PolicyDocument.
type PolicyStatement struct {
	// Sid names the statement.
	Sid string `json:"Sid,omitempty"`
	// Effect is "Allow".
	Effect string `json:"Effect"`
	// Principal is set in trust policies: {"AWS": ARN}.
	Principal map[string]string `json:"Principal,omitempty"`
	// Action lists the actions.
	Action []string `json:"Action"`
	// Resource lists the resources (permission policies only).
	Resource []string `json:"Resource,omitempty"`
	// Condition maps operator -> key -> value (a string or a list).
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// render marshals a document as indented JSON with a trailing newline.
// encoding/json sorts map keys, so the output is deterministic.
func render(doc PolicyDocument) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ValidateBucketName checks a bucket name loosely enough for legacy
// buckets: 3–255 characters of letters, digits, '.', '-' and '_', starting
// and ending with a letter or digit.
func ValidateBucketName(bucket string) error {
	if bucket == "" {
		return invalid("bucket", "is required")
	}
	if len(bucket) < 3 || len(bucket) > 255 {
		return invalid("bucket", "%q must be 3-255 characters", bucket)
	}
	for _, r := range bucket {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return invalid("bucket", "%q contains %q: bucket names are letters, digits, '.', '-' and '_'", bucket, r)
		}
	}
	if !isAlnum(bucket[0]) || !isAlnum(bucket[len(bucket)-1]) {
		return invalid("bucket", "%q must start and end with a letter or digit", bucket)
	}
	return nil
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// escapeIAM escapes IAM wildcard and variable characters in a literal key
// prefix: * -> ${*}, ? -> ${?}, $ -> ${$}.
func escapeIAM(s string) string {
	if !strings.ContainsAny(s, "*?$") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '$':
			b.WriteString("${" + string(r) + "}")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// PermissionPolicy renders the S3 read policy for the given buckets in a
// partition ("" = "aws"). For each scope it allows s3:ListBucket on the
// bucket (with a StringLike s3:prefix condition [prefix, prefix*] when a
// prefix is given), s3:GetObject and s3:GetObjectVersion on
// bucket/prefix*, and s3:GetBucketLocation on the bucket. With one scope
// the statement IDs are ListBucket, ReadObjects and BucketLocation; with
// several they are suffixed 1, 2, ... in order. The JSON is deterministic.
func PermissionPolicy(partition string, scopes ...BucketScope) ([]byte, error) {
	if partition == "" {
		partition = "aws"
	}
	if !isPartition(partition) {
		return nil, invalid("partition", "%q is not one of %s", partition, strings.Join(Partitions, ", "))
	}
	if len(scopes) == 0 {
		return nil, invalid("bucket", "at least one bucket is required")
	}
	doc := PolicyDocument{Version: PolicyVersion}
	for i, sc := range scopes {
		if err := ValidateBucketName(sc.Bucket); err != nil {
			return nil, err
		}
		prefix := strings.TrimLeft(sc.Prefix, "/")
		for _, r := range prefix {
			if r < 0x20 || r == 0x7f {
				return nil, invalid("prefix", "contains a control character")
			}
		}
		suffix := ""
		if len(scopes) > 1 {
			suffix = strconv.Itoa(i + 1)
		}
		bucketARN := "arn:" + partition + ":s3:::" + sc.Bucket
		list := PolicyStatement{
			Sid:      "ListBucket" + suffix,
			Effect:   "Allow",
			Action:   []string{"s3:ListBucket"},
			Resource: []string{bucketARN},
		}
		esc := escapeIAM(prefix)
		if prefix != "" {
			list.Condition = map[string]map[string]any{
				"StringLike": {"s3:prefix": []string{esc, esc + "*"}},
			}
		}
		doc.Statement = append(doc.Statement,
			list,
			PolicyStatement{
				Sid:      "ReadObjects" + suffix,
				Effect:   "Allow",
				Action:   []string{"s3:GetObject", "s3:GetObjectVersion"},
				Resource: []string{bucketARN + "/" + esc + "*"},
			},
			PolicyStatement{
				Sid:      "BucketLocation" + suffix,
				Effect:   "Allow",
				Action:   []string{"s3:GetBucketLocation"},
				Resource: []string{bucketARN},
			},
		)
	}
	return render(doc)
}

// TrustPolicy renders the role trust policy: principal userARN may call
// sts:AssumeRole (and sts:SetSourceIdentity, since the platform passes a
// SourceIdentity) only with one of the given External IDs (StringEquals
// sts:ExternalId: a string for one ID, a list of two during a rotation).
// Errors: *ARNError for the principal, *ValidationError naming
// "external_id" for a missing or malformed ID.
func TrustPolicy(userARN string, externalIDs ...string) ([]byte, error) {
	if err := ValidatePrincipalARN(userARN); err != nil {
		return nil, err
	}
	if len(externalIDs) == 0 {
		return nil, invalid("external_id", "at least one External ID is required")
	}
	seen := map[string]bool{}
	var ids []string
	for _, id := range externalIDs {
		if err := ValidateExternalID(id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	var cond any = ids[0]
	if len(ids) > 1 {
		cond = ids
	}
	return render(PolicyDocument{
		Version: PolicyVersion,
		Statement: []PolicyStatement{{
			Sid:       "AllowS3IngestWithExternalID",
			Effect:    "Allow",
			Principal: map[string]string{"AWS": userARN},
			Action:    []string{"sts:AssumeRole", "sts:SetSourceIdentity"},
			Condition: map[string]map[string]any{
				"StringEquals": {"sts:ExternalId": cond},
			},
		}},
	})
}
