package parsers

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

func TestParseInt(t *testing.T) {
	for _, s := range []string{"0", "-0", "+5", "123", "-9223372036854775808", "9223372036854775807",
		"9223372036854775808", "-9223372036854775809", "", "-", "+", "1a", "1.0", " 1", "00000000000000000000012", "-00000000000000000000012"} {
		want, werr := strconv.ParseInt(s, 10, 64)
		got, ok := parseInt([]byte(s))
		if ok != (werr == nil) || (ok && got != want) {
			t.Errorf("parseInt(%q) = %d, %v; strconv %d, %v", s, got, ok, want, werr)
		}
	}
}

func TestParseFloat(t *testing.T) {
	cases := []string{"0", "1.5", "-2.25", ".5", "1.", "123456789012345678", "1e5", "1E-7", "-0.000001",
		"3.141592653589793", "0.1", "179.99", "1e400", "", ".", "-", "1e", "abc", "0x10", "inf", "NaN", "1_000",
		"12345678901234567890123", "0.00000000000000000000000000001"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		f := r.Float64() * float64(r.IntN(1e9))
		cases = append(cases, strconv.FormatFloat(f, 'f', r.IntN(10), 64), strconv.FormatFloat(f, 'g', -1, 64))
	}
	for _, s := range cases {
		want, werr := strconv.ParseFloat(s, 64)
		got, ok := parseFloat([]byte(s))
		if s == "inf" || s == "NaN" || s == "0x10" || s == "1_000" {
			if ok {
				t.Errorf("parseFloat(%q) accepted", s)
			}
			continue
		}
		if ok != (werr == nil) || (ok && got != want) {
			t.Errorf("parseFloat(%q) = %v, %v; strconv %v, %v", s, got, ok, want, werr)
		}
	}
}

func TestParseDateTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // RFC 3339 in UTC, "" = invalid
	}{
		{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"},
		{"2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05Z"},
		{"2024-01-02T03:04:05-0130", "2024-01-02T04:34:05Z"},
		{"2024-01-02T03:04:05+05", "2024-01-01T22:04:05Z"},
		{"2024-01-02 03:04:05.123456789", "2024-01-02T03:04:05.123456Z"},
		{"2024-01-02t03:04:05.5z", "2024-01-02T03:04:05.5Z"},
		{"2024-01-02T03:04", "2024-01-02T03:04:00Z"},
		{"1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
		{"2024-02-30T00:00:00Z", ""},
		{"2024-01-02T24:00:00Z", ""},
		{"2024-01-02T03:04:05.Z", ""},
		{"2024-01-02T03:04:05 Z", ""},
		{"2024-01-02", ""},
		{"2024-01-02T03:04:05+2:00", ""},
	} {
		got, ok := parseTimestamp([]byte(tc.in))
		if tc.want == "" {
			if ok {
				t.Errorf("parseTimestamp(%q) accepted: %s", tc.in, schema.FormatTimestamp(got))
			}
			continue
		}
		if !ok || schema.FormatTimestamp(got) != tc.want {
			t.Errorf("parseTimestamp(%q) = %s, %v; want %s", tc.in, schema.FormatTimestamp(got), ok, tc.want)
		}
	}
	// every day of a few centuries against time.Time
	for d := time.Date(1890, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2110; d = d.AddDate(0, 0, 7) {
		s := d.Format(time.DateOnly)
		got, ok := parseDate([]byte(s))
		if !ok || got != schema.DateFromTime(d) {
			t.Fatalf("parseDate(%q) = %d, %v; want %d", s, got, ok, schema.DateFromTime(d))
		}
	}
	for _, s := range []string{"2023-02-29", "2024-13-01", "2024-00-10", "2024-1-01", "20240101", "2024-01-32"} {
		if _, ok := parseDate([]byte(s)); ok {
			t.Errorf("parseDate(%q) accepted", s)
		}
	}
	if _, ok := parseDate([]byte("2024-02-29")); !ok {
		t.Error("leap day rejected")
	}
}
