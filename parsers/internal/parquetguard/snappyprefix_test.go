package parquetguard

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
)

// snappyInputs are decoded data of every shape the encoders produce:
// literals of each length-byte count, copies with 1-, 2- and 4-byte
// offsets, overlapping runs.
func snappyInputs() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	var out [][]byte
	out = append(out, nil, []byte("a"), bytes.Repeat([]byte("ab"), 3000))
	for _, n := range []int{59, 60, 61, 255, 256, 257, 65535, 65536, 70000, 1 << 20} {
		out = append(out, random(n))
	}
	// repeated blocks far apart: copies with long offsets
	block := random(100_000)
	out = append(out, append(append(append([]byte{}, block...), random(70_000)...), block...))
	// levels-like data: a length, RLE runs, then values
	lv := []byte{8, 0, 0, 0, 0x10, 1, 0x03, 0xff}
	out = append(out, append(lv, bytes.Repeat([]byte{0, 0, 0, 0, 1, 2, 3, 4}, 10_000)...))
	return out
}

func TestSnappyPrefixDecodes(t *testing.T) {
	encoders := map[string]func([]byte) []byte{
		"snappy":              func(b []byte) []byte { return snappy.Encode(nil, b) },
		"s2 snappy (default)": func(b []byte) []byte { return s2.EncodeSnappy(nil, b) },
		"s2 snappy better":    func(b []byte) []byte { return s2.EncodeSnappyBetter(nil, b) },
		"s2 snappy best":      func(b []byte) []byte { return s2.EncodeSnappyBest(nil, b) },
	}
	for name, enc := range encoders {
		for k, want := range snappyInputs() {
			src := enc(want)
			for _, n := range []int{0, 1, 4, 12, 60, 4096, len(want) / 2, len(want)} {
				var sp snappyPrefix
				if err := sp.reset(src, len(want), nil); err != nil {
					t.Fatalf("%s input %d: reset: %v", name, k, err)
				}
				got, err := sp.fill(n)
				if err != nil {
					t.Fatalf("%s input %d, prefix %d: %v", name, k, n, err)
				}
				if len(got) < min(n, len(want)) || !bytes.Equal(got, want[:len(got)]) {
					t.Fatalf("%s input %d, prefix %d: got %d bytes, not a prefix of the %d decoded", name, k, n, len(got), len(want))
				}
				if n == len(want) && len(got) != len(want) {
					t.Fatalf("%s input %d: whole decode gave %d of %d bytes", name, k, len(got), len(want))
				}
			}
		}
	}
}

func TestSnappyPrefixRefuses(t *testing.T) {
	good := snappy.Encode(nil, bytes.Repeat([]byte("abcdefgh"), 100))
	cases := map[string]struct {
		src   []byte
		limit int
	}{
		"announces more than the limit": {good, 799},
		"no length":                     {[]byte{0x80}, 100},
		"literal past the data":         {[]byte{10, 9 << 2, 'a'}, 100},
		"literal past the output":       {[]byte{2, 9 << 2, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'}, 100},
		"long literal length past data": {[]byte{100, 62 << 2, 1}, 100},
		"copy before any output":        {[]byte{10, 1 | 0<<2, 1}, 100},
		"copy offset zero":              {[]byte{10, 0, 'a', 1, 0}, 100},
		"copy offset past the output":   {[]byte{10, 0, 'a', 2 | 3<<2, 5, 0}, 100},
		"copy past the decoded length":  {[]byte{3, 0, 'a', 2 | 9<<2, 1, 0}, 100},
		"4-byte offset past the output": {[]byte{10, 0, 'a', 3, 0xff, 0xff, 0xff, 0xff}, 100},
		"truncated copy":                {[]byte{10, 0, 'a', 2}, 100},
	}
	for name, c := range cases {
		var sp snappyPrefix
		err := sp.reset(c.src, c.limit, nil)
		if err == nil {
			_, err = sp.fill(c.limit)
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, derr := snappy.Decode(nil, c.src); derr == nil && name != "announces more than the limit" {
			t.Errorf("%s: snappy.Decode accepts the case, so it does not test corruption", name)
		}
	}
}

// FuzzSnappyPrefix: on any data the prefix decoder neither panics nor
// writes past the decoded length, and where snappy decodes the data, the
// prefix decoder's output is a prefix of snappy's.
func FuzzSnappyPrefix(f *testing.F) {
	for _, in := range snappyInputs()[:6] {
		f.Add(snappy.Encode(nil, in), 10)
	}
	f.Add([]byte{10, 0, 'a', 2 | 3<<2, 1, 0}, 4)
	f.Fuzz(func(t *testing.T, src []byte, want int) {
		var sp snappyPrefix
		if err := sp.reset(src, 1<<20, nil); err != nil {
			return
		}
		announced, _ := binary.Uvarint(src)
		buf := cap(sp.out)
		got, err := sp.fill(want)
		if uint64(len(got)) > announced || cap(sp.out) != buf {
			t.Fatalf("decoded %d bytes (announced %d) into a buffer of %d (was %d): grew past the announced length", len(got), announced, cap(sp.out), buf)
		}
		whole, derr := snappy.Decode(nil, src)
		if derr == nil && err == nil && !bytes.Equal(got, whole[:len(got)]) {
			t.Fatalf("prefix differs from snappy's decoding")
		}
	})
}
