package sink

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestPGStoredName(t *testing.T) {
	long := strings.Repeat("a", 80)
	sum := sha256.Sum256([]byte(long))
	longWant := strings.Repeat("a", 54) + "_" + hex.EncodeToString(sum[:4])
	uni := strings.Repeat("é", 40) // 80 bytes, 2 per rune
	usum := sha256.Sum256([]byte(uni))
	for _, c := range []struct {
		name  string
		taken []string
		want  string
	}{
		{"id", nil, "id"},
		{"ID", []string{"id"}, "ID"}, // quoted identifiers keep case
		{"xmin", nil, "xmin_"},
		{"ctid", nil, "ctid_"},
		{"tableoid", nil, "tableoid_"},
		{"Xmin", nil, "Xmin"},
		{"xmin", []string{"xmin_"}, "xmin__2"},
		{"xmin_", []string{"xmin_"}, "xmin__2"},
		{"a", []string{"a", "a_2", "a_3"}, "a_4"},
		{"", nil, "unnamed"},
		{"", []string{"unnamed"}, "unnamed_2"},
		{"_s3ingest_key", nil, "src_s3ingest_key"},
		{"_s3ingestion", nil, "src_s3ingestion"},
		{long, nil, longWant},
		{long, []string{longWant}, longWant[:61] + "_2"},
		{uni, nil, strings.Repeat("é", 27) + "_" + hex.EncodeToString(usum[:4])},
		{strings.Repeat("b", 63), nil, strings.Repeat("b", 63)},
	} {
		taken := map[string]bool{}
		for _, n := range c.taken {
			taken[n] = true
		}
		got := pgStoredName(c.name, taken)
		if got != c.want {
			t.Errorf("pgStoredName(%q, %v) = %q, want %q", c.name, c.taken, got, c.want)
		}
		if len(got) > maxIdent {
			t.Errorf("pgStoredName(%q) = %q: %d bytes", c.name, got, len(got))
		}
		if again := pgStoredName(c.name, taken); again != got {
			t.Errorf("pgStoredName(%q) not deterministic: %q, %q", c.name, got, again)
		}
	}
}
