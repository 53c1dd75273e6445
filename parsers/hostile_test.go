package parsers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Hostile and unusual input: every shape is bounded in memory and time.

// TestHeaderNamesLinear: 60,000 duplicate names are made unique in well under
// a second (it took minutes when each duplicate tried a_2, a_3, ... from the
// start), with the same names as before, and a cancelled context stops it.
func TestHeaderNamesLinear(t *testing.T) {
	cells := func(names ...string) []cell {
		out := make([]cell, len(names))
		for i, n := range names {
			out[i] = cell{b: []byte(n), kind: kText}
		}
		return out
	}
	for _, tc := range []struct{ in, want string }{
		{"a,a,a", "a,a_2,a_3"},
		{"a,a,a_2", "a,a_3,a_2"},
		{"a, ,a_2,a,a", "a,c2,a_2,a_3,a_4"},
		{"a_2,a,a,a_2", "a_2,a,a_3,a_2_2"},
		{"b,a,b,a,b", "b,a,b_2,a_2,b_3"},
	} {
		got, err := headerNames(context.Background(), cells(strings.Split(tc.in, ",")...))
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("headerNames(%s) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}

	const n = 60_000
	many := make([]string, n)
	for i := range many {
		many[i] = "a"
	}
	start := time.Now()
	got, err := headerNames(context.Background(), cells(many...))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d duplicate names took %v", n, d)
	}
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("duplicate name %q", g)
		}
		seen[g] = true
	}
	if got[n-1] != "a_60000" {
		t.Errorf("last name %q, want a_60000", got[n-1])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := headerNames(ctx, cells(many...)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
