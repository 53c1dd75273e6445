package shared

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	if got := string(AppendJSONString(nil, []byte("a\"b\\c\n\t\r\x01\x1fé/<"))); got != `"a\"b\\c\n\t\r\u0001\u001fé/<"` {
		t.Fatalf("got %s", got)
	}
	// every ASCII byte round-trips through encoding/json
	var all []byte
	for c := range 0x80 {
		all = append(all, byte(c))
	}
	enc := AppendJSONString([]byte("x"), all)
	var back string
	if err := json.Unmarshal(enc[1:], &back); err != nil || back != string(all) {
		t.Fatalf("%s: %v, %q", enc, err, back)
	}
}

func TestShorten(t *testing.T) {
	if got := Shorten("short"); got != "short" {
		t.Fatal(got)
	}
	long := strings.Repeat("é", 40) // 80 bytes
	for _, got := range []string{Shorten(long), Shorten([]byte(long))} {
		if len(got) > MaxValueBytes || !strings.HasSuffix(got, "...") || !utf8.ValidString(got) {
			t.Fatalf("%q (%d bytes)", got, len(got))
		}
	}
	if got := Shorten(strings.Repeat("a", 64)); got != strings.Repeat("a", 64) {
		t.Fatal(got)
	}
}
