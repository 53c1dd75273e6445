// Package ident holds the rules of the identifiers s3ingest's packages share:
// workspace IDs, dataset names, credential IDs and schedule IDs. jobs checks
// payloads with them, credstore builds Redis keys and STS session names from
// them, and worker/sink builds directory, schema and table names from them;
// all three call this package, so a payload that validates names IDs every
// later stage accepts.
//
// It is a leaf: it imports none of the project's packages, so any of them
// (and the platform's API) may import it.
package ident

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Length limits, in bytes (every allowed character is one byte).
const (
	// MaxWorkspaceID is the longest workspace ID.
	MaxWorkspaceID = 128
	// MaxDataset is the longest dataset name.
	MaxDataset = 128
	// MaxCredentialID is the longest credential ID.
	MaxCredentialID = 64
	// MaxScheduleID is the longest schedule ID.
	MaxScheduleID = 128
)

// Field names used in errors by the checks of this package. Callers that
// know a field by another name (a JSON path, a flag) copy Error.Detail
// into their own error.
const (
	FieldWorkspace    = "workspace"
	FieldDataset      = "dataset"
	FieldCredentialID = "credential_id"
	FieldScheduleID   = "schedule_id"
)

// Error reports an identifier that breaks its rule.
type Error struct {
	// Field names the identifier ("workspace", "dataset", ...).
	Field string
	// Value is the identifier as given.
	Value string
	// Reason says what is wrong and what is allowed.
	Reason string
}

// Error names the field, the value and the reason.
func (e *Error) Error() string { return "invalid " + e.Field + ": " + e.Detail() }

// Detail is the message without the field name: the quoted value (long
// values shortened) and the reason.
func (e *Error) Detail() string {
	if e.Value == "" {
		return e.Reason
	}
	return strconv.Quote(shorten(e.Value)) + ": " + e.Reason
}

// Permanent reports true: the same identifier never becomes valid.
func (e *Error) Permanent() bool { return true }

// rule is one identifier's grammar.
type rule struct {
	field   string
	max     int
	chars   string // allowed besides ASCII letters and digits
	noFirst string // characters that may not start the identifier
	noDots  bool   // ".." may not appear
}

var (
	workspaceRule  = rule{field: FieldWorkspace, max: MaxWorkspaceID, chars: "._:@-"}
	datasetRule    = rule{field: FieldDataset, max: MaxDataset, chars: "_-.", noFirst: ".-", noDots: true}
	credentialRule = rule{field: FieldCredentialID, max: MaxCredentialID, chars: "_-"}
	scheduleRule   = rule{field: FieldScheduleID, max: MaxScheduleID, chars: "_-.:", noFirst: ".:"}
)

// Workspace checks a workspace ID: 1 to MaxWorkspaceID ASCII letters,
// digits and '.', '_', ':', '@', '-'. Such an ID may still be "." or ".."
// or start with '-': whoever makes a file or schema name of it must map it
// to a safe one.
func Workspace(id string) error { return workspaceRule.check(id) }

// Dataset checks a dataset name: 1 to MaxDataset ASCII letters, digits,
// '_', '-' and '.', not starting with '.' or '-' and without "..", so it is
// never ".", ".." or an option, and is safe as a directory name and, quoted,
// as a table name.
func Dataset(name string) error { return datasetRule.check(name) }

// CredentialID checks a credential ID: 1 to MaxCredentialID ASCII letters,
// digits, '_' and '-'.
func CredentialID(id string) error { return credentialRule.check(id) }

// ScheduleID checks a schedule ID: 1 to MaxScheduleID ASCII letters,
// digits, '_', '-', '.' and ':', not starting with '.' or ':'.
func ScheduleID(id string) error { return scheduleRule.check(id) }

func (r rule) check(v string) error {
	switch {
	case v == "":
		return &Error{Field: r.field, Reason: "must not be empty"}
	case len(v) > r.max:
		return &Error{Field: r.field, Value: v, Reason: "is " + strconv.Itoa(len(v)) + " bytes long, at most " + strconv.Itoa(r.max) + " are allowed"}
	case strings.IndexByte(r.noFirst, v[0]) >= 0:
		return &Error{Field: r.field, Value: v, Reason: "must start with a letter, digit or " + list(without(r.chars, r.noFirst), " or ")}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(r.chars, c) >= 0 {
			continue
		}
		ch, _ := utf8.DecodeRuneInString(v[i:])
		return &Error{Field: r.field, Value: v, Reason: "character " + strconv.QuoteRune(ch) + " at byte " + strconv.Itoa(i) + " is not allowed (use letters, digits, " + list(r.chars, " and ") + ")"}
	}
	if r.noDots && strings.Contains(v, "..") {
		return &Error{Field: r.field, Value: v, Reason: `must not contain ".."`}
	}
	return nil
}

// without returns chars less those in drop.
func without(chars, drop string) string {
	var b strings.Builder
	for i := 0; i < len(chars); i++ {
		if strings.IndexByte(drop, chars[i]) < 0 {
			b.WriteByte(chars[i])
		}
	}
	return b.String()
}

// list renders characters as "'.', '_' and '-'" (conj " and ") or
// "'_' or '-'" (conj " or ").
func list(chars, conj string) string {
	var b strings.Builder
	for i := 0; i < len(chars); i++ {
		switch {
		case i == 0:
		case i == len(chars)-1:
			b.WriteString(conj)
		default:
			b.WriteString(", ")
		}
		b.WriteString(strconv.QuoteRune(rune(chars[i])))
	}
	return b.String()
}

// shorten cuts long values in messages.
func shorten(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "..."
}
