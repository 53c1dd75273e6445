package credstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

// TestGeneratedPoliciesOnSeaweedFS loads the trust and permission policies
// that credstore generates into a dedicated SeaweedFS IAM configuration,
// resolves the integration through AssumeRole and checks what the session
// may and may not do.
func TestGeneratedPoliciesOnSeaweedFS(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := testCtx(t)
	const (
		roleARN = "arn:aws:iam::000000000000:role/customer-ingest"
		bucket  = "customer-data"
		other   = "other-bucket"
		prefix  = "exports/"
	)
	ws := uniqueWorkspace(t)
	integ, err := s.CreateIntegration(ctx, ws, roleARN)
	if err != nil {
		t.Fatal(err)
	}
	if integ.UserARN != testenv.PlatformUserARN {
		t.Fatalf("User ARN %s, want the test platform identity %s", integ.UserARN, testenv.PlatformUserARN)
	}
	trust, err := integ.TrustPolicy()
	if err != nil {
		t.Fatal(err)
	}
	perm, err := credstore.PermissionPolicy(integ.Partition(), credstore.BucketScope{Bucket: bucket, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartS3(t, testenv.S3Config{
		Identities: []testenv.Identity{testenv.PlatformIdentity},
		Roles:      []testenv.Role{{ARN: roleARN, TrustPolicy: seaweedTrustPolicy(t, trust), Policies: []string{"s3ingest-generated"}}},
		Policies:   []testenv.Policy{{Name: "s3ingest-generated", Document: string(perm)}},
	})
	srv.CreateBucket(t, bucket)
	srv.CreateBucket(t, other)
	srv.Put(t, bucket, "exports/2024/a.csv", []byte("a\n1\n"))
	srv.Put(t, bucket, "exports/b.csv", []byte("b\n2\n"))
	srv.Put(t, bucket, "private/secret.csv", []byte("nope\n"))
	srv.Put(t, other, "exports/c.csv", []byte("c\n"))

	r := newResolver(t, s, srv, nil)
	res, err := r.Resolve(ctx, ws, "")
	if err != nil {
		t.Fatalf("resolve with the generated trust policy: %v", err)
	}
	c := srv.Client(t, res.Provider)

	// Allowed: everything the worker does within the prefix.
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2 within the prefix: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if len(keys) != 2 {
		t.Fatalf("listed %v, want the two objects under %s", keys, prefix)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("exports/2024/"), Delimiter: aws.String("/")}); err != nil {
		t.Fatalf("list a sub-prefix: %v", err)
	}
	if v, err := readObject(ctx, c, bucket, "exports/2024/a.csv"); err != nil || v != "a\n1\n" {
		t.Fatalf("GetObject within the prefix: %q %v", v, err)
	}
	ranged, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("exports/b.csv"), Range: aws.String("bytes=0-0")})
	if err != nil {
		t.Fatalf("ranged GetObject: %v", err)
	}
	ranged.Body.Close()
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("exports/b.csv")}); err != nil {
		t.Fatalf("HeadObject within the prefix: %v", err)
	}
	if _, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("GetBucketLocation: %v", err)
	}

	// Denied: writing, reading outside the prefix, another bucket.
	denied := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if err == nil {
			t.Errorf("%s: allowed, want AccessDenied", what)
		} else if !errors.As(err, &ae) || (ae.ErrorCode() != "AccessDenied" && ae.ErrorCode() != "Forbidden") {
			t.Errorf("%s: %v, want AccessDenied", what, err)
		}
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("exports/new.csv"), Body: bytes.NewReader([]byte("x"))})
	denied("PutObject", err)
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("exports/b.csv")})
	denied("DeleteObject", err)
	_, err = readObject(ctx, c, bucket, "private/secret.csv")
	denied("GetObject outside the prefix", err)
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("private/")})
	denied("ListObjectsV2 outside the prefix", err)
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	denied("ListObjectsV2 of the whole bucket", err)
	_, err = readObject(ctx, c, other, "exports/c.csv")
	denied("GetObject in another bucket", err)
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(other), Prefix: aws.String(prefix)})
	denied("ListObjectsV2 of another bucket", err)

	// And the External ID is enforced against the generated trust policy.
	_, err = r.AssumeRoleOnce(ctx, integ, "")
	if !credstore.IsSTSDenied(err) {
		t.Fatalf("AssumeRole without External ID: %v", err)
	}
}

// seaweedTrustPolicy adapts a generated trust policy to SeaweedFS, which
// rejects any trust-policy action other than sts:AssumeRole* (AWS needs
// sts:SetSourceIdentity because the platform passes a SourceIdentity;
// SeaweedFS ignores SourceIdentity). Only that action is removed: the
// principal and the sts:ExternalId condition are loaded as generated.
func seaweedTrustPolicy(t *testing.T, doc []byte) string {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatal(err)
	}
	for _, st := range p["Statement"].([]any) {
		m := st.(map[string]any)
		var kept []any
		for _, a := range m["Action"].([]any) {
			if a != "sts:SetSourceIdentity" {
				kept = append(kept, a)
			}
		}
		if len(kept) != 1 || kept[0] != "sts:AssumeRole" {
			t.Fatalf("generated trust policy actions %v", m["Action"])
		}
		m["Action"] = kept
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
