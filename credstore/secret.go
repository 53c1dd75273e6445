package credstore

import (
	"fmt"
	"log/slog"

	"go.uber.org/zap/zapcore"
)

// Redacted is what a Secret prints as.
const Redacted = "[REDACTED]"

// Secret is a string that never prints: fmt verbs, JSON, text marshalling,
// slog and zap all show "[REDACTED]" (or "" when empty). Call Reveal to get
// the value.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.redacted() }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `credstore.Secret("` + s.redacted() + `")` }

// Format implements fmt.Formatter so that no verb (%s, %q, %x, %v, %#v)
// reveals the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.redacted())
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.redacted())
	default:
		fmt.Fprint(f, s.redacted())
	}
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.redacted() + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// CredentialInput is what Store.AddCredential takes. Its secrets print as
// [REDACTED] everywhere (fmt, JSON, zap, slog).
type CredentialInput struct {
	// Name is a human-readable label, unique within the workspace
	// (1–128 characters).
	Name string `json:"name"`
	// AccessKeyID is the access key ID (required).
	AccessKeyID string `json:"access_key_id"`
	// SecretAccessKey is the secret access key (required). Sealed at rest.
	SecretAccessKey Secret `json:"secret_access_key"`
	// SessionToken is an optional session token. Sealed at rest.
	SessionToken Secret `json:"session_token,omitempty"`
	// Region is the optional region to use (e.g. "eu-west-1"); empty means
	// the bucket's region is discovered.
	Region string `json:"region,omitempty"`
	// Endpoint is the optional base URL of an S3-compatible service
	// (http or https); empty means AWS.
	Endpoint string `json:"endpoint,omitempty"`
}

// String implements fmt.Stringer without secrets.
func (c CredentialInput) String() string {
	return fmt.Sprintf("CredentialInput{Name:%q AccessKeyID:%q SecretAccessKey:%s SessionToken:%s Region:%q Endpoint:%q}",
		c.Name, c.AccessKeyID, c.SecretAccessKey.redacted(), c.SessionToken.redacted(), c.Region, c.Endpoint)
}

// GoString implements fmt.GoStringer without secrets.
func (c CredentialInput) GoString() string { return "credstore." + c.String() }

// Format implements fmt.Formatter: every verb prints String.
func (c CredentialInput) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue implements slog.LogValuer without secrets.
func (c CredentialInput) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("access_key_id", c.AccessKeyID),
		slog.String("secret_access_key", c.SecretAccessKey.redacted()),
		slog.String("session_token", c.SessionToken.redacted()),
		slog.String("region", c.Region),
		slog.String("endpoint", c.Endpoint),
	)
}

// MarshalLogObject implements zapcore.ObjectMarshaler without secrets.
func (c CredentialInput) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", c.Name)
	enc.AddString("access_key_id", c.AccessKeyID)
	enc.AddString("secret_access_key", c.SecretAccessKey.redacted())
	if c.SessionToken != "" {
		enc.AddString("session_token", c.SessionToken.redacted())
	}
	if c.Region != "" {
		enc.AddString("region", c.Region)
	}
	if c.Endpoint != "" {
		enc.AddString("endpoint", c.Endpoint)
	}
	return nil
}
