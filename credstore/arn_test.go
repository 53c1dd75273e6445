package credstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/credstore"
)

func TestParseRoleARN(t *testing.T) {
	t.Parallel()
	valid := []struct{ in, partition, account, path, name string }{
		{"arn:aws:iam::123456789012:role/S3Ingest", "aws", "123456789012", "/", "S3Ingest"},
		{"arn:aws-cn:iam::123456789012:role/reader", "aws-cn", "123456789012", "/", "reader"},
		{"arn:aws-us-gov:iam::123456789012:role/a.b@c=d,e+f_g-h", "aws-us-gov", "123456789012", "/", "a.b@c=d,e+f_g-h"},
		{"arn:aws:iam::123456789012:role/service-role/team/ingest", "aws", "123456789012", "/service-role/team/", "ingest"},
		{"  arn:aws:iam::000000000000:role/x  ", "aws", "000000000000", "/", "x"},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 64), "aws", "123456789012", "/", strings.Repeat("r", 64)},
	}
	for _, tc := range valid {
		r, err := credstore.ParseRoleARN(tc.in)
		if err != nil {
			t.Errorf("ParseRoleARN(%q): %v", tc.in, err)
			continue
		}
		if r.Partition != tc.partition || r.AccountID != tc.account || r.Path != tc.path || r.Name != tc.name {
			t.Errorf("ParseRoleARN(%q) = %+v", tc.in, r)
		}
		if r.String() != strings.TrimSpace(tc.in) {
			t.Errorf("String() = %q, want %q", r.String(), strings.TrimSpace(tc.in))
		}
	}

	invalid := []struct{ in, part, mention string }{
		{"", credstore.ARNPartFormat, "empty"},
		{"arn:aws:iam::123456789012", credstore.ARNPartFormat, "not of the form"},
		{"role/foo", credstore.ARNPartFormat, ""},
		{"urn:aws:iam::123456789012:role/x", credstore.ARNPartFormat, ""},
		{"arn:aws-iso:iam::123456789012:role/x", credstore.ARNPartPartition, "aws-iso"},
		{"arn::iam::123456789012:role/x", credstore.ARNPartPartition, ""},
		{"arn:aws:s3::123456789012:role/x", credstore.ARNPartService, "s3"},
		{"arn:aws:sts::123456789012:assumed-role/x/y", credstore.ARNPartService, "sts"},
		{"arn:aws:iam:us-east-1:123456789012:role/x", credstore.ARNPartRegion, "us-east-1"},
		{"arn:aws:iam::12345678901:role/x", credstore.ARNPartAccount, "12-digit"},
		{"arn:aws:iam::1234567890123:role/x", credstore.ARNPartAccount, "12-digit"},
		{"arn:aws:iam::12345678901a:role/x", credstore.ARNPartAccount, "12345678901a"},
		{"arn:aws:iam::123456789012:user/x", credstore.ARNPartResource, "\"user\" is not a role"},
		{"arn:aws:iam::123456789012:roles/x", credstore.ARNPartResource, ""},
		{"arn:aws:iam::123456789012:role", credstore.ARNPartResource, ""},
		{"arn:aws:iam::123456789012:role/", credstore.ARNPartName, "missing"},
		{"arn:aws:iam::123456789012:role/path/", credstore.ARNPartName, "missing"},
		{"arn:aws:iam::123456789012:role/a//b", credstore.ARNPartPath, "empty segment"},
		{"arn:aws:iam::123456789012:role/pa th/x", credstore.ARNPartPath, "printable"},
		{"arn:aws:iam::123456789012:role/bad*name", credstore.ARNPartName, "bad*name"},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65), credstore.ARNPartName, "1-64"},
	}
	for _, tc := range invalid {
		_, err := credstore.ParseRoleARN(tc.in)
		var ae *credstore.ARNError
		if !errors.As(err, &ae) {
			t.Errorf("ParseRoleARN(%q) = %v, want *ARNError", tc.in, err)
			continue
		}
		if ae.Part != tc.part {
			t.Errorf("ParseRoleARN(%q): part %q, want %q (%v)", tc.in, ae.Part, tc.part, err)
		}
		if !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "invalid role ARN") {
			t.Errorf("ParseRoleARN(%q): %q should mention %q", tc.in, err, tc.mention)
		}
	}
}

func TestPrincipalARN(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"arn:aws:iam::000000000000:user/platform",
		"arn:aws:iam::123456789012:role/path/ingestd",
		"arn:aws:iam::123456789012:root",
	} {
		if err := credstore.ValidatePrincipalARN(ok); err != nil {
			t.Errorf("ValidatePrincipalARN(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "arn:aws:iam::123456789012:group/x", "arn:aws:sts::123456789012:assumed-role/r/s", "arn:aws:iam::1:user/x"} {
		err := credstore.ValidatePrincipalARN(bad)
		var ae *credstore.ARNError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "principal ARN") {
			t.Errorf("ValidatePrincipalARN(%q) = %v", bad, err)
		}
	}
	got, err := credstore.PrincipalFromCallerARN("arn:aws:sts::123456789012:assumed-role/ingestd/i-0abc")
	if err != nil || got != "arn:aws:iam::123456789012:role/ingestd" {
		t.Fatalf("assumed-role conversion = %q, %v", got, err)
	}
	if got, err := credstore.PrincipalFromCallerARN("arn:aws-cn:iam::123456789012:user/p"); err != nil || got != "arn:aws-cn:iam::123456789012:user/p" {
		t.Fatalf("user passthrough = %q, %v", got, err)
	}
	if _, err := credstore.PrincipalFromCallerARN("arn:aws:sts::123456789012:federated-user/bob"); err == nil || !strings.Contains(err.Error(), credstore.PlatformARNEnv) {
		t.Fatalf("federated user: %v", err)
	}
}

func TestValidateExternalID(t *testing.T) {
	t.Parallel()
	if err := credstore.ValidateExternalID(""); err == nil || !strings.Contains(err.Error(), "external_id") {
		t.Fatalf("empty: %v", err)
	}
	if err := credstore.ValidateExternalID("has space"); err == nil {
		t.Fatal("space accepted")
	}
	id := credstore.GenerateExternalID()
	if len(id) < 32 || credstore.ValidateExternalID(id) != nil || id == credstore.GenerateExternalID() {
		t.Fatalf("generated %q", id)
	}
}
