package ident_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/ident"
)

func TestRules(t *testing.T) {
	type check func(string) error
	cases := []struct {
		rule   string
		check  check
		value  string
		errHas string // "" = valid
	}{
		{"workspace", ident.Workspace, "ws-1", ""},
		{"workspace", ident.Workspace, "team@acme.io", ""},
		{"workspace", ident.Workspace, "acme:prod@eu.1", ""},
		{"workspace", ident.Workspace, ".", ""},
		{"workspace", ident.Workspace, "..", ""},
		{"workspace", ident.Workspace, "-rf", ""},
		{"workspace", ident.Workspace, strings.Repeat("w", ident.MaxWorkspaceID), ""},
		{"workspace", ident.Workspace, "", "must not be empty"},
		{"workspace", ident.Workspace, strings.Repeat("w", ident.MaxWorkspaceID+1), "129 bytes long, at most 128"},
		{"workspace", ident.Workspace, "a/b", `character '/' at byte 1 is not allowed (use letters, digits, '.', '_', ':', '@' and '-')`},
		{"workspace", ident.Workspace, "a b", `' '`},
		{"workspace", ident.Workspace, "naïve", `'ï' at byte 2`},
		{"workspace", ident.Workspace, "a+b", `'+'`},
		{"workspace", ident.Workspace, "a\x00", `'\x00'`},
		{"workspace", ident.Workspace, "x\xff", `'�' at byte 1`},

		{"dataset", ident.Dataset, "orders", ""},
		{"dataset", ident.Dataset, "Orders_2026-01.v2", ""},
		{"dataset", ident.Dataset, "_private", ""},
		{"dataset", ident.Dataset, strings.Repeat("d", ident.MaxDataset), ""},
		{"dataset", ident.Dataset, "", "must not be empty"},
		{"dataset", ident.Dataset, strings.Repeat("d", ident.MaxDataset+1), "at most 128"},
		{"dataset", ident.Dataset, ".", "must start with a letter, digit or '_'"},
		{"dataset", ident.Dataset, "..", "must start with"},
		{"dataset", ident.Dataset, ".hidden", "must start with"},
		{"dataset", ident.Dataset, "-rf", "must start with"},
		{"dataset", ident.Dataset, "../etc", "must start with"},
		{"dataset", ident.Dataset, "a..b", `must not contain ".."`},
		{"dataset", ident.Dataset, "a/b", `'/'`},
		{"dataset", ident.Dataset, `a\b`, `'\\'`},
		{"dataset", ident.Dataset, "tab\tname", `'\t'`},
		{"dataset", ident.Dataset, "a:b", `':'`},

		{"credential_id", ident.CredentialID, "cred_01-AB", ""},
		{"credential_id", ident.CredentialID, strings.Repeat("c", ident.MaxCredentialID), ""},
		{"credential_id", ident.CredentialID, "", "must not be empty"},
		{"credential_id", ident.CredentialID, strings.Repeat("c", ident.MaxCredentialID+1), "at most 64"},
		{"credential_id", ident.CredentialID, "x y", `' '`},
		{"credential_id", ident.CredentialID, "a.b:c", `'.' at byte 1 is not allowed (use letters, digits, '_' and '-')`},

		{"schedule_id", ident.ScheduleID, "nightly", ""},
		{"schedule_id", ident.ScheduleID, "-x", ""},
		{"schedule_id", ident.ScheduleID, "_x.y:z", ""},
		{"schedule_id", ident.ScheduleID, strings.Repeat("s", ident.MaxScheduleID), ""},
		{"schedule_id", ident.ScheduleID, "", "must not be empty"},
		{"schedule_id", ident.ScheduleID, strings.Repeat("s", ident.MaxScheduleID+1), "at most 128"},
		{"schedule_id", ident.ScheduleID, ".x", "must start with a letter, digit or '_' or '-'"},
		{"schedule_id", ident.ScheduleID, ":x", "must start with"},
		{"schedule_id", ident.ScheduleID, "a/b", `'/'`},
		{"schedule_id", ident.ScheduleID, "a@b", `'@'`},
	}
	for _, c := range cases {
		t.Run(c.rule+"/"+c.value, func(t *testing.T) {
			err := c.check(c.value)
			if c.errHas == "" {
				if err != nil {
					t.Fatalf("%s(%q) = %v, want nil", c.rule, c.value, err)
				}
				return
			}
			var ie *ident.Error
			if !errors.As(err, &ie) {
				t.Fatalf("%s(%q) = %v, want an *ident.Error", c.rule, c.value, err)
			}
			if ie.Field != c.rule || ie.Value != c.value {
				t.Errorf("error names field %q value %q, want %q %q", ie.Field, ie.Value, c.rule, c.value)
			}
			if !strings.HasPrefix(err.Error(), "invalid "+c.rule+": ") || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("message %q: want it to name %s and say %q", err, c.rule, c.errHas)
			}
			if !ie.Permanent() {
				t.Error("Permanent() = false")
			}
		})
	}
}

// TestCharsets walks every byte after a valid first character, so a rule
// that lets one more character through (or one fewer) fails here.
func TestCharsets(t *testing.T) {
	for _, c := range []struct {
		check func(string) error
		extra string
	}{
		{ident.Workspace, "._:@-"},
		{ident.Dataset, "_-."},
		{ident.CredentialID, "_-"},
		{ident.ScheduleID, "_-.:"},
	} {
		for b := 0; b < 256; b++ {
			ch := byte(b)
			want := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte(c.extra, ch) >= 0
			if got := c.check(string([]byte{'x', ch})) == nil; got != want {
				t.Errorf("allowed set %q: byte %#x accepted=%v, want %v", c.extra, b, got, want)
			}
		}
	}
}

func TestDetailShortensLongValues(t *testing.T) {
	err := ident.Workspace(strings.Repeat("w", 500))
	var ie *ident.Error
	if !errors.As(err, &ie) {
		t.Fatal(err)
	}
	if d := ie.Detail(); len(d) > 120 || !strings.Contains(d, "500 bytes long") {
		t.Errorf("Detail() = %q, want the value shortened and the length named", d)
	}
	if ie.Value != strings.Repeat("w", 500) {
		t.Error("Value must keep the whole identifier")
	}
}
