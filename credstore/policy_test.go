package credstore_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/credstore"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./credstore -run %s -update)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
	if !json.Valid(got) {
		t.Fatalf("%s is not valid JSON", name)
	}
}

func TestPermissionPolicyGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		partition string
		scopes    []credstore.BucketScope
	}{
		{"permission-bucket", "", []credstore.BucketScope{{Bucket: "customer-data"}}},
		{"permission-prefix", "aws", []credstore.BucketScope{{Bucket: "customer-data", Prefix: "exports/2024/"}}},
		{"permission-prefix-cn", "aws-cn", []credstore.BucketScope{{Bucket: "customer-data", Prefix: "/exports"}}},
		{"permission-wildcards", "aws", []credstore.BucketScope{{Bucket: "customer-data", Prefix: "odd*dir?/$x"}}},
		{"permission-multi", "aws-us-gov", []credstore.BucketScope{{Bucket: "a-bucket", Prefix: "in/"}, {Bucket: "b-bucket"}}},
	} {
		got, err := credstore.PermissionPolicy(tc.partition, tc.scopes...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		again, _ := credstore.PermissionPolicy(tc.partition, tc.scopes...)
		if string(again) != string(got) {
			t.Fatalf("%s: not deterministic", tc.name)
		}
		golden(t, tc.name, got)
	}
}

func TestTrustPolicyGolden(t *testing.T) {
	t.Parallel()
	const user = "arn:aws:iam::111122223333:user/s3ingest-platform"
	one, err := credstore.TrustPolicy(user, "0123456789abcdef0123456789abcdef01234567")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trust", one)
	two, err := credstore.TrustPolicy(user, "0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trust-rotating", two)
}

func TestPolicyErrors(t *testing.T) {
	t.Parallel()
	var ve *credstore.ValidationError
	if _, err := credstore.PermissionPolicy("aws"); !errors.As(err, &ve) || ve.Field != "bucket" {
		t.Fatalf("no scope: %v", err)
	}
	for _, b := range []string{"", "ab", "bad/bucket", "-dash", "star*"} {
		if _, err := credstore.PermissionPolicy("aws", credstore.BucketScope{Bucket: b}); !errors.As(err, &ve) || ve.Field != "bucket" {
			t.Errorf("bucket %q: %v", b, err)
		}
	}
	if _, err := credstore.PermissionPolicy("aws-iso", credstore.BucketScope{Bucket: "abc"}); !errors.As(err, &ve) || ve.Field != "partition" {
		t.Fatalf("partition: %v", err)
	}
	if _, err := credstore.TrustPolicy(testUserARN); !errors.As(err, &ve) || ve.Field != "external_id" {
		t.Fatalf("no external ID: %v", err)
	}
	if _, err := credstore.TrustPolicy(testUserARN, ""); err == nil || !strings.Contains(err.Error(), "external_id") {
		t.Fatalf("empty external ID: %v", err)
	}
	var ae *credstore.ARNError
	if _, err := credstore.TrustPolicy("arn:aws:iam::1:user/x", "abcdefgh"); !errors.As(err, &ae) {
		t.Fatalf("bad user ARN: %v", err)
	}
}
