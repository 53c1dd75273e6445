package parsers

import (
	"bytes"
	"fmt"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Schema inference.
//
// Every non-null sampled value gets its narrowest type:
//
//	bool       true / false, any letter case (CSV); JSON true / false
//	int64      [+-]digits that fit in 64 bits, without a leading zero
//	           ("007" is text: identifiers and postal codes keep their zeros)
//	float64    [+-]digits[.digits][e[+-]digits], or an int64 that overflows
//	date       YYYY-MM-DD
//	timestamp  YYYY-MM-DD(T| )HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]
//	           (no zone means UTC; fraction truncated to microseconds)
//	json       a JSON array, or an object nested deeper than JSON.MaxDepth
//	string     anything else (JSON strings are typed as date/timestamp when
//	           they parse as such, never as numbers or booleans)
//
// A column's type is the join of its values' types along the widening order
// documented in package schema (bool → int64 → float64; date → timestamp;
// anything else → string). Leading and trailing spaces are ignored when
// typing CSV values.
//
// Nulls: a missing field, JSON null, and in CSV an unquoted value in
// CSVOptions.Nulls (DefaultNullTokens: "", NULL, null, Null, \N). Nulls do
// not take part in typing. A column is nullable when the sample holds a
// null, or when the sample did not reach the end of the object (a sample
// cannot prove the absence of nulls).
//
// Each field's Reason explains the choice, e.g.
//
//	int64: 1000 of 1000 sampled values are integers
//	string: value "N/A" on line 17 is not a number (999 other values are numbers)

// cellKind is what a source knows about a value before typing.
type cellKind uint8

const (
	kNull cellKind = iota // missing field or JSON null
	kText                 // CSV field: typed by its content
	kStr                  // JSON string: typed as date/timestamp or string
	kNum                  // JSON number
	kBool                 // JSON true/false
	kRaw                  // JSON object or array text
)

// cell is one raw value of a row. b aliases the source's buffer and is valid
// until the next row is read.
type cell struct {
	b      []byte
	kind   cellKind
	quoted bool // CSV: the field was quoted
	// seq is the JSON value's position in its document (the order of the
	// keys in a rescue column); unused for CSV.
	seq int32
}

// nullSet holds the CSV null tokens.
type nullSet struct {
	tokens [][]byte
	maxLen int
	first  [256]bool // first bytes of the non-empty tokens
}

func newNullSet(tokens []string) *nullSet {
	if tokens == nil {
		tokens = DefaultNullTokens
	}
	n := &nullSet{}
	for _, t := range tokens {
		n.tokens = append(n.tokens, []byte(t))
		if t != "" {
			n.first[t[0]] = true
		}
		if len(t) > n.maxLen {
			n.maxLen = len(t)
		}
	}
	return n
}

// is reports whether b is a null token (the empty value always is).
func (n *nullSet) is(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if len(b) > n.maxLen || !n.first[b[0]] {
		return false
	}
	for _, t := range n.tokens {
		if bytes.Equal(b, t) {
			return true
		}
	}
	return false
}

// valueClass is the outcome of typing one sampled value.
type valueClass uint8

const (
	classNull       valueClass = iota
	classQuotedNull            // a quoted null token: null unless the column is a string
	classTyped                 // see the Type
)

// classify returns the narrowest type of a cell.
func classify(c *cell, nulls *nullSet) (valueClass, schema.Type, bool) {
	switch c.kind {
	case kNull:
		return classNull, 0, false
	case kBool:
		return classTyped, schema.Bool, false
	case kRaw:
		return classTyped, schema.JSON, false
	case kNum:
		if ok, integer := numberSyntax(c.b); ok && integer {
			if _, ok := parseInt(c.b); ok {
				return classTyped, schema.Int64, false
			}
		}
		return classTyped, schema.Float64, false
	case kStr:
		if _, ok := parseDate(c.b); ok {
			return classTyped, schema.Date, false
		}
		if _, ok := parseTimestamp(c.b); ok {
			return classTyped, schema.Timestamp, false
		}
		return classTyped, schema.String, false
	}
	// kText
	if nulls.is(c.b) {
		if c.quoted {
			return classQuotedNull, 0, false
		}
		return classNull, 0, false
	}
	b := trimSpace(c.b)
	if len(b) == 0 {
		return classTyped, schema.String, false
	}
	switch {
	case b[0] == 't' || b[0] == 'T' || b[0] == 'f' || b[0] == 'F':
		if _, ok := parseBool(b); ok {
			return classTyped, schema.Bool, false
		}
	case (b[0] >= '0' && b[0] <= '9') || b[0] == '-' || b[0] == '+' || b[0] == '.':
		if ok, integer := numberSyntax(b); ok {
			d := b
			if d[0] == '-' || d[0] == '+' {
				d = d[1:]
			}
			if len(d) > 1 && d[0] == '0' && d[1] >= '0' && d[1] <= '9' {
				return classTyped, schema.String, true // leading zero
			}
			if integer {
				if _, ok := parseInt(b); ok {
					return classTyped, schema.Int64, false
				}
			}
			return classTyped, schema.Float64, false
		}
		if len(b) >= 10 && b[4] == '-' {
			if _, ok := parseDate(b); ok {
				return classTyped, schema.Date, false
			}
			if _, ok := parseTimestamp(b); ok {
				return classTyped, schema.Timestamp, false
			}
		}
	}
	return classTyped, schema.String, false
}

// chain groups types that widen into each other.
type chain uint8

const (
	chainNone chain = iota
	chainNum        // bool, int64, float64
	chainTime       // date, timestamp
	chainJSON
	chainString
	nChains
)

func chainOf(t schema.Type) chain {
	switch t {
	case schema.Bool, schema.Int64, schema.Float64:
		return chainNum
	case schema.Date, schema.Timestamp:
		return chainTime
	case schema.JSON:
		return chainJSON
	}
	return chainString
}

// rank orders the types of one chain.
func rank(t schema.Type) int {
	switch t {
	case schema.Bool, schema.Date:
		return 0
	case schema.Int64, schema.Timestamp:
		return 1
	case schema.Float64:
		return 2
	}
	return 0
}

// joinTypes is the widening join documented in package schema.
func joinTypes(a, b schema.Type) schema.Type {
	if a == b {
		return a
	}
	ca, cb := chainOf(a), chainOf(b)
	if ca != cb || ca == chainJSON || ca == chainString {
		return schema.String
	}
	if rank(a) >= rank(b) {
		return a
	}
	return b
}

// example is a sampled value remembered for a reason.
type example struct {
	value string
	line  int64
	set   bool
}

func (e *example) note(b []byte, line int64) {
	if !e.set {
		*e = example{value: shared.Shorten(b), line: line, set: true}
	}
}

// colInfer accumulates the typing of one column over the sample.
type colInfer struct {
	typ        schema.Type
	any        bool // typ holds the join of at least one value
	nonNull    int
	nulls      int
	quotedNull int
	counts     [schema.JSON + 1]int
	first      [schema.JSON + 1]example
	chainFirst [nChains]example
	chainCount [nChains]int
	leading    example // first number with a leading zero
}

func (ci *colInfer) add(c *cell, line int64, nulls *nullSet) {
	class, t, leadingZero := classify(c, nulls)
	switch class {
	case classNull:
		ci.nulls++
		return
	case classQuotedNull:
		ci.quotedNull++
		return
	}
	ci.nonNull++
	ci.counts[t]++
	ci.first[t].note(c.b, line)
	ch := chainOf(t)
	ci.chainCount[ch]++
	ci.chainFirst[ch].note(c.b, line)
	if leadingZero {
		ci.leading.note(c.b, line)
	}
	if !ci.any {
		ci.typ, ci.any = t, true
	} else {
		ci.typ = joinTypes(ci.typ, t)
	}
}

// field returns the inferred field. exhaustive says the sample reached the
// end of the object.
func (ci *colInfer) field(name string, exhaustive bool) schema.Field {
	f := schema.Field{Name: name, Type: schema.String}
	if ci.any {
		f.Type = ci.typ
	}
	nulls := ci.nulls
	if f.Type != schema.String {
		nulls += ci.quotedNull
	}
	total := ci.nonNull + nulls
	if f.Type == schema.String {
		total += ci.quotedNull
	}
	f.Reason = ci.reason(f.Type, total, nulls)
	switch {
	case nulls > 0:
		f.Nullable = true
		f.Reason += fmt.Sprintf("; nullable: %d of %d sampled values are null", nulls, total)
	case !exhaustive:
		f.Nullable = true
		f.Reason += "; nullable: the sample does not cover the whole object"
	}
	return f
}

var chainNoun = [nChains]string{chainNum: "a number", chainTime: "a date or timestamp", chainJSON: "a JSON array or object", chainString: "text"}
var chainPlural = [nChains]string{chainNum: "numbers", chainTime: "dates or timestamps", chainJSON: "JSON arrays or objects", chainString: "text"}

func (ci *colInfer) reason(t schema.Type, total, nulls int) string {
	if !ci.any {
		return fmt.Sprintf("string: no non-null value among %d sampled values", total)
	}
	n := ci.nonNull
	of := fmt.Sprintf("%d of %d sampled values", n, total)
	switch t {
	case schema.Bool:
		return "bool: " + of + " are true/false"
	case schema.Int64:
		if ci.counts[schema.Bool] > 0 {
			return "int64: " + of + " are integers or true/false"
		}
		return "int64: " + of + " are integers"
	case schema.Float64:
		fl := ci.first[schema.Float64]
		return fmt.Sprintf("float64: %s are numbers, %d with a fraction, an exponent or beyond int64 (first %q on line %d)",
			of, ci.counts[schema.Float64], fl.value, fl.line)
	case schema.Date:
		return "date: " + of + " are dates (YYYY-MM-DD)"
	case schema.Timestamp:
		if ci.counts[schema.Date] > 0 {
			return "timestamp: " + of + " are ISO-8601 timestamps or dates"
		}
		return "timestamp: " + of + " are ISO-8601 timestamps"
	case schema.JSON:
		return "json: " + of + " are JSON arrays or objects"
	}
	// String: either all text, or a conflict between chains.
	dom := chainString
	for ch := chainNum; ch < chainString; ch++ {
		if ci.chainCount[ch] > 0 && (dom == chainString || ci.chainCount[ch] > ci.chainCount[dom]) {
			dom = ch
		}
	}
	if dom == chainString {
		if ci.leading.set {
			return fmt.Sprintf("string: value %q on line %d has a leading zero and is kept as text", ci.leading.value, ci.leading.line)
		}
		ex := ci.chainFirst[chainString]
		return fmt.Sprintf("string: %s are text (first %q on line %d)", of, ex.value, ex.line)
	}
	// the earliest value outside the dominant chain
	var off example
	offCh := chainString
	for ch := chainNum; ch < nChains; ch++ {
		e := ci.chainFirst[ch]
		if ch == dom || !e.set {
			continue
		}
		if !off.set || e.line < off.line {
			off, offCh = e, ch
		}
	}
	msg := fmt.Sprintf("string: value %q on line %d is not %s (%d other sampled values are %s)",
		off.value, off.line, chainNoun[dom], ci.chainCount[dom], chainPlural[dom])
	if offCh == chainString && ci.leading.set && ci.leading.line == off.line {
		msg = fmt.Sprintf("string: value %q on line %d has a leading zero and is kept as text (%d other sampled values are %s)",
			off.value, off.line, ci.chainCount[dom], chainPlural[dom])
	}
	return msg
}
