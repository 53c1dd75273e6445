package credstore

import (
	"fmt"
	"strings"
)

// Partitions accepted in role and principal ARNs.
var Partitions = []string{"aws", "aws-cn", "aws-us-gov"}

// ARN parts named by ARNError.Part.
const (
	ARNPartFormat    = "format"
	ARNPartPartition = "partition"
	ARNPartService   = "service"
	ARNPartRegion    = "region"
	ARNPartAccount   = "account ID"
	ARNPartResource  = "resource type"
	ARNPartPath      = "path"
	ARNPartName      = "name"
)

// ARNError reports what is wrong with an ARN. Part is one of the ARNPart
// constants.
type ARNError struct {
	// Kind is what the ARN should have been: "role ARN" or "principal ARN".
	Kind string
	// ARN is the input as given.
	ARN string
	// Part names the faulty component.
	Part string
	// Reason says what is wrong and what was expected.
	Reason string
}

// Error implements error.
func (e *ARNError) Error() string {
	if e.Kind == principalKind {
		return fmt.Sprintf("invalid principal ARN %q: %s: %s (expected arn:aws:iam::123456789012:user/NAME, :role/NAME or :root)", e.ARN, e.Part, e.Reason)
	}
	return fmt.Sprintf("invalid role ARN %q: %s: %s (expected arn:aws:iam::123456789012:role/NAME or role/PATH/NAME)", e.ARN, e.Part, e.Reason)
}

const (
	roleKind      = "role ARN"
	principalKind = "principal ARN"
)

func (e *ARNError) kind(k string) *ARNError { e.Kind = k; return e }

// RoleARN is a parsed IAM role ARN.
type RoleARN struct {
	// Partition is aws, aws-cn or aws-us-gov.
	Partition string
	// AccountID is the 12-digit account.
	AccountID string
	// Path is the role path, "/" when none (e.g. "/service-role/").
	Path string
	// Name is the role name.
	Name string
}

// String returns the canonical ARN.
func (r RoleARN) String() string {
	return "arn:" + r.Partition + ":iam::" + r.AccountID + ":role" + r.Path + r.Name
}

// ParseRoleARN validates an IAM role ARN:
// arn:<partition>:iam::<12-digit account>:role/[path/]name, with partition
// aws, aws-cn or aws-us-gov. Surrounding white space is ignored. Errors are
// *ARNError naming the faulty part.
func ParseRoleARN(s string) (RoleARN, error) {
	r, err := parseRoleARN(strings.TrimSpace(s))
	return r, withKind(err, roleKind)
}

func withKind(err error, kind string) error {
	if ae, ok := err.(*ARNError); ok {
		return ae.kind(kind)
	}
	return err
}

func parseRoleARN(s string) (RoleARN, error) {
	partition, account, resource, err := splitIAMARN(s)
	if err != nil {
		return RoleARN{}, err
	}
	rest, ok := strings.CutPrefix(resource, "role/")
	if !ok {
		typ, _, _ := strings.Cut(resource, "/")
		return RoleARN{}, &ARNError{ARN: s, Part: ARNPartResource, Reason: fmt.Sprintf("%q is not a role (the resource must start with \"role/\")", typ)}
	}
	path, name, err := splitPathName(s, rest)
	if err != nil {
		return RoleARN{}, err
	}
	if !validIAMName(name, 64) {
		return RoleARN{}, &ARNError{ARN: s, Part: ARNPartName, Reason: fmt.Sprintf("role name %q must be 1-64 characters of letters, digits and +=,.@_-", name)}
	}
	return RoleARN{Partition: partition, AccountID: account, Path: path, Name: name}, nil
}

// splitIAMARN checks arn:<partition>:iam::<account>:<resource>.
func splitIAMARN(s string) (partition, account, resource string, err error) {
	if s == "" {
		return "", "", "", &ARNError{ARN: s, Part: ARNPartFormat, Reason: "empty"}
	}
	if len(s) > 2048 {
		return "", "", "", &ARNError{ARN: s[:64] + "...", Part: ARNPartFormat, Reason: "longer than 2048 characters"}
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", "", "", &ARNError{ARN: s, Part: ARNPartFormat, Reason: "not of the form arn:PARTITION:iam::ACCOUNT:role/NAME"}
	}
	partition = parts[1]
	if !isPartition(partition) {
		return "", "", "", &ARNError{ARN: s, Part: ARNPartPartition, Reason: fmt.Sprintf("%q is not one of %s", partition, strings.Join(Partitions, ", "))}
	}
	if parts[2] != "iam" {
		return "", "", "", &ARNError{ARN: s, Part: ARNPartService, Reason: fmt.Sprintf("service is %q, must be \"iam\"", parts[2])}
	}
	if parts[3] != "" {
		return "", "", "", &ARNError{ARN: s, Part: ARNPartRegion, Reason: fmt.Sprintf("IAM ARNs have no region, got %q", parts[3])}
	}
	account = parts[4]
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return "", "", "", &ARNError{ARN: s, Part: ARNPartAccount, Reason: fmt.Sprintf("%q is not a 12-digit AWS account ID", account)}
	}
	return partition, account, parts[5], nil
}

// splitPathName splits "path/.../name" (after "role/" or "user/") into a
// path ("/" or "/a/b/") and a name.
func splitPathName(arn, rest string) (path, name string, err error) {
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		path, name = "/", rest
	} else {
		path, name = "/"+rest[:i+1], rest[i+1:]
	}
	if name == "" {
		return "", "", &ARNError{ARN: arn, Part: ARNPartName, Reason: "missing after the last \"/\""}
	}
	if len(path) > 512 {
		return "", "", &ARNError{ARN: arn, Part: ARNPartPath, Reason: "longer than 512 characters"}
	}
	if strings.Contains(path, "//") {
		return "", "", &ARNError{ARN: arn, Part: ARNPartPath, Reason: fmt.Sprintf("%q has an empty segment", path)}
	}
	for _, r := range path {
		if r < 0x21 || r > 0x7e {
			return "", "", &ARNError{ARN: arn, Part: ARNPartPath, Reason: fmt.Sprintf("%q contains %q: only printable ASCII without spaces is allowed", path, r)}
		}
	}
	return path, name, nil
}

func isPartition(p string) bool {
	for _, q := range Partitions {
		if p == q {
			return true
		}
	}
	return false
}

// validIAMName reports whether s is 1..max characters of [\w+=,.@-].
func validIAMName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !isIAMNameRune(r) {
			return false
		}
	}
	return true
}

func isIAMNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@_-", r)
}

// ValidatePrincipalARN checks an ARN usable as the Principal of a trust
// policy: an IAM user (arn:P:iam::ACCOUNT:user/[path/]name), role
// (…:role/…) or account root (…:root). Errors are *ARNError.
func ValidatePrincipalARN(s string) error {
	return withKind(validatePrincipalARN(s), principalKind)
}

func validatePrincipalARN(s string) error {
	_, _, resource, err := splitIAMARN(s)
	if err != nil {
		return err
	}
	if resource == "root" {
		return nil
	}
	typ, rest, ok := strings.Cut(resource, "/")
	if !ok || (typ != "user" && typ != "role") {
		return &ARNError{ARN: s, Part: ARNPartResource, Reason: fmt.Sprintf("%q is not a user, role or root principal", typ)}
	}
	_, name, err := splitPathName(s, rest)
	if err != nil {
		return err
	}
	if !validIAMName(name, 64) {
		return &ARNError{ARN: s, Part: ARNPartName, Reason: fmt.Sprintf("%q must be 1-64 characters of letters, digits and +=,.@_-", name)}
	}
	return nil
}

// PrincipalFromCallerARN turns the ARN returned by sts:GetCallerIdentity
// into one a trust policy can name. A user or role ARN is returned as is;
// an assumed-role session (arn:P:sts::ACCOUNT:assumed-role/ROLE/SESSION)
// becomes the role ARN arn:P:iam::ACCOUNT:role/ROLE. The role's path is
// not part of an assumed-role ARN, so a role with a path must be configured
// explicitly through S3INGEST_PLATFORM_ARN.
func PrincipalFromCallerARN(caller string) (string, error) {
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "sts" {
		if rest, ok := strings.CutPrefix(parts[5], "assumed-role/"); ok {
			role, _, _ := strings.Cut(rest, "/")
			arn := "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role
			if err := ValidatePrincipalARN(arn); err != nil {
				return "", err
			}
			return arn, nil
		}
		return "", &ARNError{Kind: principalKind, ARN: caller, Part: ARNPartResource, Reason: "an STS caller identity other than an assumed role cannot be named in a trust policy; set " + PlatformARNEnv}
	}
	if err := ValidatePrincipalARN(caller); err != nil {
		return "", err
	}
	return caller, nil
}
