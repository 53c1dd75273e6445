package parquet

import (
	"fmt"
	"io"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Nested fields (groups, LIST, MAP, repeated fields) become one JSON column.
// Their leaves are read page by page like flat columns, keeping each entry's
// repetition and definition levels and the JSON text of its value; each row
// is then assembled from the levels (record shredding in reverse):
//
//   - a group without annotation is an object whose keys are its fields in
//     file order;
//   - a LIST is an array of its elements; the legacy two-level forms
//     (a repeated primitive, a repeated group with several fields, or one
//     named "array" or "<list>_tuple") are read as the Parquet
//     specification's backward-compatibility rules say;
//   - a MAP is an object; keys are rendered as JSON strings (a non-string key
//     becomes its text, e.g. "1"); a map without a value field has null
//     values;
//   - any other repeated field is an array of its values;
//   - values are rendered as in flat columns; dates, timestamps, decimals
//     (as JSON numbers with the exact digits), UUIDs and binary values
//     (UTF-8 text or base64) as JSON strings; NaN and infinities as the
//     strings "NaN", "Infinity", "-Infinity".

// levelBuf holds the entries of one leaf for a range of rows.
type levelBuf struct {
	reps []byte
	defs []byte
	text []byte
	offs []int32 // entry e's JSON text is text[offs[e]:offs[e+1]]
	rows []int32 // entry index where each row starts, plus a sentinel
}

func (lv *levelBuf) reset() {
	lv.reps, lv.defs, lv.text = lv.reps[:0], lv.defs[:0], lv.text[:0]
	lv.offs = append(lv.offs[:0], 0)
	lv.rows = lv.rows[:0]
}

// gather reads the entries of the next n rows of a leaf into lv. A value
// that does not convert is reported in errs (row relative to base) and
// rendered as null.
func (c *chunk) gather(lv *levelBuf, n, col, base int, errs *[]rowErr) error {
	lv.reset()
	l := c.leaf
	rows := 0
	for {
		if c.pos >= c.n {
			err := c.nextPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			continue
		}
		var rep byte
		if c.reps != nil {
			rep = c.reps[c.pos]
		}
		if rep == 0 {
			if rows == n {
				break
			}
			rows++
			lv.rows = append(lv.rows, int32(len(lv.defs)))
		} else if rows == 0 {
			return fmt.Errorf("%w: a row starts with repetition level %d instead of 0", shared.ErrCorrupt, rep)
		}
		def := l.maxDef
		if c.defs != nil {
			def = c.defs[c.pos]
		}
		lv.reps = append(lv.reps, rep)
		lv.defs = append(lv.defs, def)
		if def == l.maxDef && l.conv != cvNull {
			i := c.vi(c.vpos)
			c.vpos++
			text, msg := c.render(lv.text, i, true)
			if msg != "" {
				*errs = append(*errs, rowErr{row: base + rows - 1, col: col, value: c.rawText(i), msg: msg})
				text = append(lv.text, "null"...)
			}
			lv.text = text
		} else if def == l.maxDef {
			lv.text = append(lv.text, "null"...)
		}
		if len(lv.text) > 1<<31-1 {
			return fmt.Errorf("%w: more than 2 GiB of nested values in one batch", shared.ErrTooLarge)
		}
		lv.offs = append(lv.offs, int32(len(lv.text)))
		c.pos++
	}
	if rows < n {
		return fmt.Errorf("%w: %v", shared.ErrCorrupt, errShortChunk)
	}
	lv.rows = append(lv.rows, int32(len(lv.defs)))
	return nil
}

// span is a range [a, b) of a leaf's entries.
type span struct{ a, b int32 }

// assembler assembles the JSON text of nested values.
type assembler struct {
	lv   []levelBuf // per leaf of the column, by leaf index - first
	base int        // leaf index of the column's first leaf
	out  []byte
	// stack holds the spans of the occurrences being written, allocated and
	// released last in, first out (no allocation per row once grown).
	stack  []span
	top    int
	keyBuf []byte
}

// alloc returns n spans from the stack. A slice handed out earlier stays
// valid when the stack grows (it keeps the old array, which only its
// owner uses).
func (a *assembler) alloc(n int) []span {
	if a.top+n > len(a.stack) {
		ns := make([]span, max(2*len(a.stack), a.top+n, 64))
		copy(ns, a.stack[:a.top])
		a.stack = ns
	}
	s := a.stack[a.top : a.top+n : a.top+n]
	a.top += n
	return s
}

// row appends row r of column node to dst (JSON, or null).
func (a *assembler) row(dst *schema.Vector, node *node, r int) error {
	a.top = 0
	spans := a.alloc(node.nleaves)
	for j := range spans {
		rows := a.lv[j].rows
		spans[j] = span{rows[r], rows[r+1]}
		if spans[j].a >= spans[j].b {
			return fmt.Errorf("%w: row without entries", shared.ErrCorrupt)
		}
	}
	a.out = a.out[:0]
	if !node.repeated && a.def(node.first, spans[0].a) < node.defLevel {
		dst.AppendNull()
		return nil
	}
	if err := a.field(node, spans); err != nil {
		return err
	}
	dst.AppendBytes(a.out)
	return nil
}

func (a *assembler) def(leaf int, e int32) int { return int(a.lv[leaf-a.base].defs[e]) }

// field writes a field: an array if it repeats, else its value.
func (a *assembler) field(n *node, spans []span) error {
	if n.repeated {
		return a.repeated(n, spans, false)
	}
	return a.value(n, spans)
}

// value writes one occurrence of n (null if absent).
func (a *assembler) value(n *node, spans []span) error {
	if a.def(n.first, spans[0].a) < n.defLevel {
		a.out = append(a.out, "null"...)
		return nil
	}
	if n.leaf != nil {
		lv := &a.lv[n.first-a.base]
		e := spans[0].a
		a.out = append(a.out, lv.text[lv.offs[e]:lv.offs[e+1]]...)
		return nil
	}
	switch n.group {
	case gkList:
		if r := listChild(n); r != nil {
			// two-level form: the repeated child's occurrences are the
			// elements; three-level: the repeated group's only field.
			return a.repeated(r, spans, r.leaf == nil && !listSelf(n, r))
		}
	case gkMap:
		if kv := mapChild(n); kv != nil {
			return a.mapValue(kv, spans)
		}
	}
	return a.object(n, spans)
}

// object writes a group as a JSON object.
func (a *assembler) object(n *node, spans []span) error {
	a.out = append(a.out, '{')
	for i, c := range n.children {
		if i > 0 {
			a.out = append(a.out, ',')
		}
		a.out = shared.AppendJSONString(a.out, []byte(c.name))
		a.out = append(a.out, ':')
		if err := a.field(c, spans[c.first-n.first:c.first-n.first+c.nleaves]); err != nil {
			return err
		}
	}
	a.out = append(a.out, '}')
	return nil
}

// listChild returns the repeated child of a LIST group, or nil if the
// group does not have the shape of a list.
func listChild(n *node) *node {
	if len(n.children) != 1 || !n.children[0].repeated {
		return nil
	}
	return n.children[0]
}

// listSelf reports whether the repeated group r of list n is itself the
// element (legacy two-level lists) rather than a wrapper of one element.
func listSelf(n, r *node) bool {
	return len(r.children) != 1 || r.name == "array" || r.name == n.name+"_tuple"
}

// mapChild returns the repeated key_value group of a MAP, or nil.
func mapChild(n *node) *node {
	if len(n.children) != 1 {
		return nil
	}
	kv := n.children[0]
	if !kv.repeated || kv.leaf != nil || len(kv.children) < 1 || len(kv.children) > 2 {
		return nil
	}
	return kv
}

var errDisagree = fmt.Errorf("%w: the leaves of a repeated field disagree on its length", shared.ErrCorrupt)

// occurrences starts iterating the occurrences of the repeated node r within
// spans: ok is false when there are none (an empty or absent list).
func (a *assembler) occurrences(r *node, spans []span) (cur, sub []span, ok bool) {
	if a.def(r.first, spans[0].a) < r.defLevel {
		return nil, nil, false
	}
	cur = a.alloc(len(spans))
	sub = a.alloc(len(spans))
	copy(cur, spans) // cur[j].a is leaf j's cursor
	return cur, sub, true
}

// next sets sub to the spans of the next occurrence of r; it returns false
// after the last one.
func (a *assembler) next(r *node, spans, cur, sub []span) (bool, error) {
	if cur[0].a >= spans[0].b {
		for j := range spans {
			if cur[j].a != spans[j].b {
				return false, errDisagree
			}
		}
		return false, nil
	}
	for j := range spans {
		lv := &a.lv[r.first-a.base+j]
		s := cur[j].a
		if s >= spans[j].b {
			return false, errDisagree
		}
		e := s + 1
		for e < spans[j].b && int(lv.reps[e]) > r.repLevel {
			e++
		}
		sub[j] = span{s, e}
		cur[j].a = e
	}
	return true, nil
}

// repeated writes the occurrences of r as a JSON array; with child set, each
// element is r's only field rather than r itself.
func (a *assembler) repeated(r *node, spans []span, child bool) error {
	top := a.top
	defer func() { a.top = top }()
	a.out = append(a.out, '[')
	cur, sub, ok := a.occurrences(r, spans)
	for k := 0; ok; k++ {
		more, err := a.next(r, spans, cur, sub)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if k > 0 {
			a.out = append(a.out, ',')
		}
		if child {
			err = a.field(r.children[0], sub)
		} else {
			err = a.value(r, sub)
		}
		if err != nil {
			return err
		}
	}
	a.out = append(a.out, ']')
	return nil
}

// mapValue writes the occurrences of a MAP's key_value group as an object.
func (a *assembler) mapValue(kv *node, spans []span) error {
	top := a.top
	defer func() { a.top = top }()
	a.out = append(a.out, '{')
	key := kv.children[0]
	cur, sub, ok := a.occurrences(kv, spans)
	for k := 0; ok; k++ {
		more, err := a.next(kv, spans, cur, sub)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if k > 0 {
			a.out = append(a.out, ',')
		}
		start := len(a.out)
		if err := a.field(key, sub[:key.nleaves]); err != nil {
			return err
		}
		if k := a.out[start:]; len(k) == 0 || k[0] != '"' {
			// a non-string key (a number, null, an object) becomes its text
			a.keyBuf = append(a.keyBuf[:0], k...)
			a.out = shared.AppendJSONString(a.out[:start], a.keyBuf)
		}
		a.out = append(a.out, ':')
		if len(kv.children) == 2 {
			err = a.field(kv.children[1], sub[key.nleaves:])
		} else {
			a.out = append(a.out, "null"...)
		}
		if err != nil {
			return err
		}
	}
	a.out = append(a.out, '}')
	return nil
}
