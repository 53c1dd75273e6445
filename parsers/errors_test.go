package parsers

import (
	"errors"
	"fmt"
	"testing"
)

// TestParseErrorContract checks the error taxonomy every package shares: a
// ParseError, however deeply wrapped, is permanent and carries its hint as
// the fix.
func TestParseErrorContract(t *testing.T) {
	pe := &ParseError{Object: "s3://b/k.csv", Line: 3, Err: fmt.Errorf("%w: bad", ErrCorrupt), Hint: "set csv.delimiter"}
	err := fmt.Errorf("ingest: %w", pe)
	var c interface{ Permanent() bool }
	if !errors.As(err, &c) || !c.Permanent() {
		t.Fatalf("%v: not permanent", err)
	}
	var f interface{ Fix() string }
	if !errors.As(err, &f) || f.Fix() != "set csv.delimiter" {
		t.Fatalf("%v: fix %q", err, f.Fix())
	}
	if (&ParseError{}).Fix() != "" {
		t.Fatal("a ParseError without a hint has a fix")
	}
}
