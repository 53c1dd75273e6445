package parsers

import "testing"

// TestCSVBoundary checks the cut of a buffer at the last record boundary
// that is certain: ordinary quotes, quoted newlines, escaped quotes, a
// quote at the end, and more segments than the scratch holds.
func TestCSVBoundary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"a,b\nc,d\ne", 8}, {"a,\"x\ny\",b\nc", 10}, {"a,\"x\ny", 0}, {"a\"b\nc", 4}, {"\"ab\"c\"d\ne", 8}, {"a,\"\"\"\"\nb,\"", 7}, {"a,\"x\"", 0},
	} {
		got, _ := csvBoundary([]byte(tc.in), ',', nil)
		if got != tc.want {
			t.Errorf("%q: %d want %d", tc.in, got, tc.want)
		}
	}
	// many segments: more than maxSegs ordinary quotes
	var b []byte
	for i := 0; i < 5000; i++ {
		b = append(b, "a\"b\n"...)
	}
	b = append(b, "x\"y\"z"...)
	if got, _ := csvBoundary(b, ',', nil); got != 20000 {
		t.Errorf("long: %d", got)
	}
}
