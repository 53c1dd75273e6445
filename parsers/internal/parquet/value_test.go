package parquet

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/parquet-go/parquet-go/deprecated"
)

func TestDecimalText(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		scale int
		want  string
	}{
		{0, 0, "0"}, {0, 2, "0.00"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {12345, 2, "123.45"}, {-12345, 5, "-0.12345"},
		{-12345, 7, "-0.0012345"}, {math.MaxInt64, 0, "9223372036854775807"}, {math.MinInt64, 3, "-9223372036854775.808"},
	} {
		if got := string(appendDecimal(nil, tc.v, tc.scale)); got != tc.want {
			t.Errorf("%d scale %d: %s, want %s", tc.v, tc.scale, got, tc.want)
		}
	}
	for _, tc := range []struct {
		b     []byte
		scale int
		want  string
		ok    bool
	}{
		{[]byte{0x01, 0x00}, 1, "25.6", true},
		{[]byte{0xff}, 0, "-1", true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, 2, "-0.02", true},
		{[]byte{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0, "9223372036854775808", true},
		{[]byte{0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, "-9223372036854775809", true},
		{nil, 2, "", false},
	} {
		got, ok := appendDecimalBE(nil, tc.b, tc.scale)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("%x scale %d: %s %v, want %s %v", tc.b, tc.scale, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFloat16(t *testing.T) {
	for _, tc := range []struct {
		bits uint16
		want float64
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x0000, 0}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08}, {0x03ff, 6.097555160522461e-05},
		{0x3555, 0.333251953125}, {0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	} {
		b := []byte{byte(tc.bits), byte(tc.bits >> 8)}
		if got := float16(b); got != tc.want {
			t.Errorf("%04x: %v, want %v", tc.bits, got, tc.want)
		}
	}
	if !math.IsNaN(float16([]byte{0x01, 0x7e})) || !math.Signbit(float16([]byte{0x00, 0x80})) {
		t.Error("NaN or -0")
	}
}

func TestTextHelpers(t *testing.T) {
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	var u [16]byte
	for i := range u {
		u[i] = byte(0xf0 + i)
	}
	check("uuid", string(appendUUID(nil, u[:])), "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff")
	iv := make([]byte, 12)
	binary.LittleEndian.PutUint32(iv, 14)
	binary.LittleEndian.PutUint32(iv[4:], 3)
	binary.LittleEndian.PutUint32(iv[8:], 3004)
	check("interval", string(appendInterval(nil, iv)), "P14M3DT3.004S")
	for _, tc := range []struct {
		v, per int64
		want   string
		ok     bool
	}{
		{0, 1000, "00:00:00.000000", true}, {86399999, 1000, "23:59:59.999000", true}, {86400000, 1000, "", false}, {-1, 1000, "", false},
		{45296789012, 1e6, "12:34:56.789012", true}, {45296789012345, 1e9, "12:34:56.789012345", true},
	} {
		got, ok := appendTime(nil, tc.v, tc.per)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("time %d/%d: %q %v", tc.v, tc.per, got, ok)
		}
	}
	for s, want := range map[string]bool{"abc": true, "tab\tnl\ncr\r": true, "héllo": true, "\x00": false, "a\x7f": false,
		"\xff": false, "é\x01": false, "": true} {
		if isText([]byte(s)) != want {
			t.Errorf("isText(%q) = %v", s, !want)
		}
	}
	// INT96: nanoseconds of the day, then the Julian day
	check("int96", int96Time(deprecated.Int96{1001, 0, 2460311}).Format("2006-01-02T15:04:05.999999999Z07:00"), "2024-01-01T00:00:00.000001001Z")
	if got := nanosToMicros(-1001); got != -2 {
		t.Errorf("nanos to micros: %d", got)
	}
	if _, ok := millisToMicros(math.MaxInt64 / 10); ok {
		t.Error("millis overflow not detected")
	}
}
