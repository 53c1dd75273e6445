package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Fixed names and keys of the default S3 configuration (see DefaultS3Config).
const (
	// AccountID is the account of every principal and role SeaweedFS knows.
	AccountID = "000000000000"
	// Region is the region the S3 and STS clients sign for.
	Region = "us-east-1"

	// AdminAccessKey and AdminSecretKey belong to the "admin" identity (all
	// actions). It exists in every instance, default or custom.
	AdminAccessKey = "AKIATESTENVADMIN0001"
	AdminSecretKey = "testenvAdminSecretKey0000000000000000000"

	// ReaderAccessKey and ReaderSecretKey belong to the "reader" identity
	// (static keys allowed Read and List only).
	ReaderAccessKey = "AKIATESTENVREADER001"
	ReaderSecretKey = "testenvReaderSecretKey000000000000000000"

	// PlatformAccessKey and PlatformSecretKey belong to the "platform"
	// identity: the platform principal (PlatformUserARN) that calls
	// sts:AssumeRole; it has no S3 actions of its own.
	PlatformAccessKey = "AKIATESTENVPLATFORM1"
	PlatformSecretKey = "testenvPlatformSecretKey0000000000000000"

	// PlatformUserARN is the principal ARN of the "platform" identity; the
	// default role's trust policy names it.
	PlatformUserARN = "arn:aws:iam::000000000000:user/platform"

	// ReaderRoleARN is the default customer role: it trusts PlatformUserARN
	// with External ID ReaderRoleExternalID and allows s3:GetObject,
	// s3:GetObjectVersion, s3:ListBucket and s3:GetBucketLocation on every
	// bucket (policy ReaderPolicyName).
	ReaderRoleARN = "arn:aws:iam::000000000000:role/s3ingest-reader"
	// ReaderRoleExternalID is the External ID the STS proxy demands for
	// ReaderRoleARN.
	ReaderRoleExternalID = "test-external-id-0123456789abcdef0123"
	// ReaderPolicyName is the managed policy attached to ReaderRoleARN.
	ReaderPolicyName = "s3ingest-reader"

	// ReaderPolicyDocument is the document of ReaderPolicyName.
	ReaderPolicyDocument = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"],
      "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]
    }
  ]
}`

	// ReaderRoleTrustPolicy is the trust policy of ReaderRoleARN, as a
	// customer would write it: it names the platform principal and requires
	// the External ID. testenv moves the sts:ExternalId condition into its
	// STS proxy (SeaweedFS cannot evaluate it).
	ReaderRoleTrustPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:user/platform"},
      "Action": "sts:AssumeRole",
      "Condition": {"StringEquals": {"sts:ExternalId": "test-external-id-0123456789abcdef0123"}}
    }
  ]
}`
)

// AllActions are the SeaweedFS static-identity actions of "admin".
var AllActions = []string{"Admin", "Read", "Write", "List", "Tagging"}

// S3Config is the IAM configuration of a SeaweedFS instance.
type S3Config struct {
	// Identities are static identities (s3.json); "admin" (all actions,
	// AdminAccessKey) is always added.
	Identities []Identity
	// Roles are iam.json roles.
	Roles []Role
	// Policies are iam.json managed policies (name + JSON document).
	Policies []Policy
	// TokenDuration is the STS default token duration (0 = 1h).
	TokenDuration time.Duration
}

// Identity is a static identity with one access key. Its principal ARN is
// arn:aws:iam::000000000000:user/<Name>. Actions are SeaweedFS actions:
// "Admin", "Read", "Write", "List", "Tagging", optionally scoped as
// "Read:bucket".
type Identity struct {
	Name, AccessKey, SecretKey string
	Actions                    []string
}

// ARN returns the identity's principal ARN.
func (i Identity) ARN() string { return "arn:aws:iam::" + AccountID + ":user/" + i.Name }

// Credentials returns the identity's static credentials.
func (i Identity) Credentials() aws.Credentials {
	return aws.Credentials{AccessKeyID: i.AccessKey, SecretAccessKey: i.SecretKey, Source: "testenv:" + i.Name}
}

// Provider returns a static credentials provider for the identity.
func (i Identity) Provider() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(i.AccessKey, i.SecretKey, "")
}

// Role is an IAM role SeaweedFS can issue sessions for.
type Role struct {
	// ARN is arn:aws:iam::000000000000:role/<name>.
	ARN string
	// TrustPolicy is JSON; it must name the trusted principal. A
	// StringEquals sts:ExternalId condition in it is removed before SeaweedFS
	// sees the policy (SeaweedFS denies any such condition) and enforced by
	// the STS proxy instead, exactly like ExternalID. An
	// sts:SetSourceIdentity action (which credstore's generated trust
	// policies carry for AWS) is dropped too: SeaweedFS accepts only
	// sts:AssumeRole* actions there.
	TrustPolicy string
	// Policies are the names of attached policies.
	Policies []string
	// ExternalID is enforced by testenv's proxy (SeaweedFS does not check
	// it); "" = the proxy requires no External ID (unless TrustPolicy has the
	// condition).
	ExternalID string
}

// Name returns the role name (the part after "role/").
func (r Role) Name() string {
	if i := strings.LastIndex(r.ARN, ":role/"); i >= 0 {
		name := r.ARN[i+len(":role/"):]
		if j := strings.LastIndex(name, "/"); j >= 0 { // role path
			name = name[j+1:]
		}
		return name
	}
	return ""
}

// Policy is a managed policy: a name and a JSON document.
type Policy struct{ Name, Document string }

// Default identities. They are values: copying and changing one does not
// change the default configuration.
var (
	AdminIdentity    = Identity{Name: "admin", AccessKey: AdminAccessKey, SecretKey: AdminSecretKey, Actions: AllActions}
	ReaderIdentity   = Identity{Name: "reader", AccessKey: ReaderAccessKey, SecretKey: ReaderSecretKey, Actions: []string{"Read", "List"}}
	PlatformIdentity = Identity{Name: "platform", AccessKey: PlatformAccessKey, SecretKey: PlatformSecretKey}
)

// DefaultS3Config returns the configuration of the shared instance (S3):
// identities admin, reader and platform, the role ReaderRoleARN trusting
// platform with External ID ReaderRoleExternalID, and its policy.
func DefaultS3Config() S3Config {
	return S3Config{
		Identities: []Identity{
			withActions(AdminIdentity),
			withActions(ReaderIdentity),
			withActions(PlatformIdentity),
		},
		Roles: []Role{{
			ARN:         ReaderRoleARN,
			TrustPolicy: ReaderRoleTrustPolicy,
			Policies:    []string{ReaderPolicyName},
			ExternalID:  ReaderRoleExternalID,
		}},
		Policies: []Policy{{Name: ReaderPolicyName, Document: ReaderPolicyDocument}},
	}
}

func withActions(i Identity) Identity {
	i.Actions = append([]string(nil), i.Actions...)
	return i
}

// TrustPolicyFor returns a trust policy document that lets principalARN call
// sts:AssumeRole, with a StringEquals sts:ExternalId condition if externalID
// is not empty (the form customers paste into AWS).
func TrustPolicyFor(principalARN, externalID string) string {
	st := map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": principalARN},
		"Action":    "sts:AssumeRole",
	}
	if externalID != "" {
		st["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalID}}
	}
	b, _ := json.MarshalIndent(map[string]any{"Version": "2012-10-17", "Statement": []any{st}}, "", "  ")
	return string(b)
}

// ---- rendering the SeaweedFS config files ------------------------------------

// roleInfo is what the STS proxy knows about a role.
type roleInfo struct {
	arn        string
	externalID string
}

// renderedConfig is a normalised S3Config rendered into SeaweedFS files.
type renderedConfig struct {
	s3JSON     []byte
	iamJSON    []byte
	roles      map[string]roleInfo // by ARN
	keyOwners  map[string]string   // access key -> identity name
	identities []Identity
}

func renderConfig(cfg S3Config) (*renderedConfig, error) {
	rc := &renderedConfig{roles: map[string]roleInfo{}, keyOwners: map[string]string{}}

	ids := []Identity{withActions(AdminIdentity)}
	for _, id := range cfg.Identities {
		if id.Name == AdminIdentity.Name {
			if id.AccessKey != AdminAccessKey || id.SecretKey != AdminSecretKey {
				return nil, fmt.Errorf("identity %q is reserved for testenv's admin (keys AdminAccessKey/AdminSecretKey)", id.Name)
			}
			continue
		}
		ids = append(ids, id)
	}
	type cred struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type ident struct {
		Name        string   `json:"name"`
		Credentials []cred   `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	var s3 struct {
		Identities []ident `json:"identities"`
	}
	names := map[string]bool{}
	for _, id := range ids {
		if id.Name == "" || id.AccessKey == "" || id.SecretKey == "" {
			return nil, fmt.Errorf("identity %+v: Name, AccessKey and SecretKey are required", id)
		}
		if names[id.Name] {
			return nil, fmt.Errorf("identity %q defined twice", id.Name)
		}
		if other, dup := rc.keyOwners[id.AccessKey]; dup {
			return nil, fmt.Errorf("access key %s used by %q and %q", id.AccessKey, other, id.Name)
		}
		names[id.Name] = true
		rc.keyOwners[id.AccessKey] = id.Name
		actions := id.Actions
		if actions == nil {
			actions = []string{}
		}
		s3.Identities = append(s3.Identities, ident{
			Name:        id.Name,
			Credentials: []cred{{AccessKey: id.AccessKey, SecretKey: id.SecretKey}},
			Actions:     actions,
		})
	}
	rc.identities = ids
	var err error
	if rc.s3JSON, err = json.MarshalIndent(s3, "", "  "); err != nil {
		return nil, err
	}

	type roleDef struct {
		RoleName         string          `json:"roleName"`
		RoleArn          string          `json:"roleArn"`
		TrustPolicy      json.RawMessage `json:"trustPolicy"`
		AttachedPolicies []string        `json:"attachedPolicies"`
	}
	type policyDef struct {
		Name     string          `json:"name"`
		Document json.RawMessage `json:"document"`
	}
	dur := cfg.TokenDuration
	if dur == 0 {
		dur = time.Hour
	}
	iam := struct {
		STS      map[string]any `json:"sts"`
		Policy   map[string]any `json:"policy"`
		Roles    []roleDef      `json:"roles"`
		Policies []policyDef    `json:"policies"`
	}{
		STS: map[string]any{
			"tokenDuration":    dur.String(),
			"maxSessionLength": "12h",
			"issuer":           "seaweedfs-sts",
			"signingKey":       base64.StdEncoding.EncodeToString([]byte(randHex(32))),
			"accountId":        AccountID,
		},
		Policy:   map[string]any{"defaultEffect": "Deny", "storeType": "memory"},
		Roles:    []roleDef{},
		Policies: []policyDef{},
	}
	policyNames := map[string]bool{}
	for _, p := range cfg.Policies {
		if p.Name == "" || policyNames[p.Name] {
			return nil, fmt.Errorf("policy name %q empty or duplicated", p.Name)
		}
		policyNames[p.Name] = true
		if !json.Valid([]byte(p.Document)) {
			return nil, fmt.Errorf("policy %q: document is not valid JSON", p.Name)
		}
		iam.Policies = append(iam.Policies, policyDef{Name: p.Name, Document: json.RawMessage(p.Document)})
	}
	for _, r := range cfg.Roles {
		name := r.Name()
		if name == "" || !strings.HasPrefix(r.ARN, "arn:aws:iam::") {
			return nil, fmt.Errorf("role ARN %q: want arn:aws:iam::%s:role/<name>", r.ARN, AccountID)
		}
		if _, dup := rc.roles[r.ARN]; dup {
			return nil, fmt.Errorf("role %s defined twice", r.ARN)
		}
		for _, p := range r.Policies {
			if !policyNames[p] {
				return nil, fmt.Errorf("role %s: attached policy %q is not in S3Config.Policies", r.ARN, p)
			}
		}
		trust, extID, err := splitExternalIDCondition(r.TrustPolicy)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", r.ARN, err)
		}
		switch {
		case r.ExternalID == "":
			r.ExternalID = extID
		case extID != "" && extID != r.ExternalID:
			return nil, fmt.Errorf("role %s: ExternalID %q differs from the trust policy's sts:ExternalId %q", r.ARN, r.ExternalID, extID)
		}
		rc.roles[r.ARN] = roleInfo{arn: r.ARN, externalID: r.ExternalID}
		policies := append([]string{}, r.Policies...)
		iam.Roles = append(iam.Roles, roleDef{RoleName: name, RoleArn: r.ARN, TrustPolicy: trust, AttachedPolicies: policies})
	}
	if rc.iamJSON, err = json.MarshalIndent(iam, "", "  "); err != nil {
		return nil, err
	}
	return rc, nil
}

// dropSetSourceIdentity removes the sts:SetSourceIdentity action from a
// trust policy statement that also allows an sts:AssumeRole* action.
// SeaweedFS accepts only sts:AssumeRole* in trust policies (and ignores
// SourceIdentity); AWS needs the action when the caller passes a
// SourceIdentity, so generated trust policies carry it. Nothing else of the
// statement changes.
func dropSetSourceIdentity(stm map[string]any) {
	acts, ok := stm["Action"].([]any)
	if !ok {
		return
	}
	kept := make([]any, 0, len(acts))
	for _, a := range acts {
		if s, ok := a.(string); ok && strings.EqualFold(s, "sts:SetSourceIdentity") {
			continue
		}
		kept = append(kept, a)
	}
	if len(kept) > 0 && len(kept) < len(acts) {
		stm["Action"] = kept
	}
}

// splitExternalIDCondition removes StringEquals sts:ExternalId conditions
// (and the sts:SetSourceIdentity action, see dropSetSourceIdentity) from a
// trust policy and returns the policy without them and the External ID they
// required ("" if none).
func splitExternalIDCondition(doc string) (json.RawMessage, string, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, "", fmt.Errorf("TrustPolicy is empty; it must name the trusted principal")
	}
	var pol map[string]any
	if err := json.Unmarshal([]byte(doc), &pol); err != nil {
		return nil, "", fmt.Errorf("TrustPolicy is not a JSON object: %w", err)
	}
	var stmts []any
	switch s := pol["Statement"].(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	default:
		return nil, "", fmt.Errorf("TrustPolicy has no Statement")
	}
	extIDs := map[string]bool{}
	for _, st := range stmts {
		stm, ok := st.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("TrustPolicy statement is not an object")
		}
		dropSetSourceIdentity(stm)
		cond, ok := stm["Condition"].(map[string]any)
		if !ok {
			continue
		}
		opNames := make([]string, 0, len(cond))
		for op := range cond {
			opNames = append(opNames, op)
		}
		sort.Strings(opNames)
		for _, op := range opNames {
			keys, ok := cond[op].(map[string]any)
			if !ok {
				continue
			}
			for k, v := range keys {
				if !strings.EqualFold(k, "sts:ExternalId") {
					continue
				}
				if op != "StringEquals" {
					return nil, "", fmt.Errorf("TrustPolicy: only StringEquals is supported for sts:ExternalId, got %s", op)
				}
				var vals []string
				switch vv := v.(type) {
				case string:
					vals = []string{vv}
				case []any:
					for _, x := range vv {
						if s, ok := x.(string); ok {
							vals = append(vals, s)
						}
					}
				}
				if len(vals) != 1 {
					return nil, "", fmt.Errorf("TrustPolicy: sts:ExternalId must have exactly one value, got %v", v)
				}
				extIDs[vals[0]] = true
				delete(keys, k)
			}
			if len(keys) == 0 {
				delete(cond, op)
			}
		}
		if len(cond) == 0 {
			delete(stm, "Condition")
		}
	}
	if len(extIDs) > 1 {
		return nil, "", fmt.Errorf("TrustPolicy names several External IDs; testenv supports one per role")
	}
	var extID string
	for id := range extIDs {
		extID = id
	}
	b, err := json.Marshal(pol)
	return b, extID, err
}
