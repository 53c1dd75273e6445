package testenv

import (
	"strings"
	"testing"
)

func TestSplitExternalIDCondition(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantID  string
		wantErr string
		absent  []string // substrings that must not remain
		present []string
	}{
		{name: "default role", doc: ReaderRoleTrustPolicy, wantID: ReaderRoleExternalID, absent: []string{"Condition", "ExternalId"}, present: []string{PlatformUserARN}},
		{name: "no condition", doc: TrustPolicyFor(PlatformUserARN, ""), present: []string{PlatformUserARN}},
		{name: "other conditions kept", doc: `{"Statement":{"Effect":"Allow","Principal":{"AWS":"x"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["e1"],"aws:SourceIp":"1.2.3.4"}}}}`, wantID: "e1", present: []string{"aws:SourceIp"}, absent: []string{"ExternalId"}},
		{name: "StringLike unsupported", doc: `{"Statement":[{"Effect":"Allow","Condition":{"StringLike":{"sts:ExternalId":"e*"}}}]}`, wantErr: "only StringEquals"},
		{name: "two ids", doc: `{"Statement":[{"Condition":{"StringEquals":{"sts:ExternalId":["a","b"]}}}]}`, wantErr: "exactly one"},
		{name: "empty", doc: " ", wantErr: "empty"},
		{name: "not json", doc: "{", wantErr: "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, id, err := splitExternalIDCondition(tc.doc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.wantID {
				t.Fatalf("id = %q, want %q", id, tc.wantID)
			}
			for _, s := range tc.absent {
				if strings.Contains(string(out), s) {
					t.Errorf("%q still in %s", s, out)
				}
			}
			for _, s := range tc.present {
				if !strings.Contains(string(out), s) {
					t.Errorf("%q missing from %s", s, out)
				}
			}
		})
	}
}

func TestRenderConfigRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  S3Config
		want string
	}{
		{"admin keys reserved", S3Config{Identities: []Identity{{Name: "admin", AccessKey: "A", SecretKey: "B"}}}, "reserved"},
		{"duplicate key", S3Config{Identities: []Identity{{Name: "a", AccessKey: "K", SecretKey: "s"}, {Name: "b", AccessKey: "K", SecretKey: "s"}}}, "used by"},
		{"unknown policy", S3Config{Roles: []Role{{ARN: "arn:aws:iam::000000000000:role/r", TrustPolicy: TrustPolicyFor("p", ""), Policies: []string{"nope"}}}}, "not in S3Config.Policies"},
		{"bad arn", S3Config{Roles: []Role{{ARN: "r", TrustPolicy: TrustPolicyFor("p", "")}}}, "role ARN"},
		{"conflicting external ids", S3Config{Roles: []Role{{ARN: "arn:aws:iam::000000000000:role/r", TrustPolicy: TrustPolicyFor("p", "x1"), ExternalID: "x2"}}}, "differs"},
		{"bad policy json", S3Config{Policies: []Policy{{Name: "p", Document: "{"}}}, "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderConfig(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	rc, err := renderConfig(DefaultS3Config())
	if err != nil {
		t.Fatal(err)
	}
	if rc.roles[ReaderRoleARN].externalID != ReaderRoleExternalID || len(rc.identities) != 3 {
		t.Fatalf("default config rendered wrongly: %+v", rc)
	}
}

func TestSanitizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"TestFoo/Sub_Case#01", "testfoo-sub-case-01"},
		{"--A--", "a"},
		{strings.Repeat("x", 100), strings.Repeat("x", 40)},
	}
	for _, tc := range tests {
		if got := sanitizeName(tc.in, '-', 40); got != tc.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
