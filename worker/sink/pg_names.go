package sink

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KeyColumn is the column of every PostgreSQL dataset table that holds the
// object's key identity, "bucket/key", of each row (null for rows loaded
// before the column existed). Modified-object replacement deletes by it.
const KeyColumn = "_s3ingest_key"

// reservedPrefix starts the names of the sink's own columns; source columns
// with such names are stored under another name.
const reservedPrefix = "_s3ingest"

// pgSystemColumns are the names PostgreSQL reserves in every table.
var pgSystemColumns = map[string]bool{
	"tableoid": true, "xmin": true, "cmin": true, "xmax": true, "cmax": true, "ctid": true,
}

// pgStoredName returns the name PostgreSQL stores a source column name
// under, given the names already taken in the table (stored names of the
// catalog's columns and every column of the table). The rule, applied in
// order, is deterministic:
//
//  1. an empty name becomes "unnamed";
//  2. a system column name (tableoid, xmin, cmin, xmax, cmax, ctid) gets a
//     trailing "_" ("xmin" → "xmin_");
//  3. a name starting with "_s3ingest" (the sink's own columns) gets the
//     prefix "src" ("_s3ingest_key" → "src_s3ingest_key");
//  4. a name over 63 bytes is cut to 54 bytes (at a UTF-8 boundary) plus
//     "_" and the first 8 hex digits of the SHA-256 of the full name;
//  5. a name already taken gets "_2", "_3", … (the base cut so the whole
//     fits 63 bytes), the first one free.
//
// PostgreSQL identifiers are quoted by the sink, so case is kept: "ID" and
// "id" are two columns and need no mapping.
func pgStoredName(name string, taken map[string]bool) string {
	c := name
	switch {
	case c == "":
		c = "unnamed"
	case pgSystemColumns[c]:
		c += "_"
	case strings.HasPrefix(c, reservedPrefix):
		c = "src" + c
	}
	if len(c) > maxIdent {
		sum := sha256.Sum256([]byte(name))
		c = cutUTF8(c, maxIdent-9) + "_" + hex.EncodeToString(sum[:4])
	}
	if !taken[c] {
		return c
	}
	for n := 2; ; n++ {
		suffix := "_" + strconv.Itoa(n)
		cand := cutUTF8(c, maxIdent-len(suffix)) + suffix
		if !taken[cand] {
			return cand
		}
	}
}

// cutUTF8 returns the longest prefix of s of at most n bytes that ends at a
// rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
