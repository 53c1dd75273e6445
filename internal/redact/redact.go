// Package redact keeps passwords in connection strings out of messages.
//
// It knows the three shapes a connection string takes here: a URL with a
// password in its user info (redis://:pw@host, postgres://u:pw@host/db), a
// URL with a password among its query parameters (postgres://host/db?password=pw),
// and a libpq key=value DSN (host=h password='p w' dbname=d).
package redact

import (
	"net/url"
	"strings"
)

// Mask replaces a password in redacted output.
const Mask = "xxxxx"

// URL returns raw with its password replaced by Mask; a URL that does not
// parse is replaced whole, since where its password is cannot be told.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	q := u.Query()
	changed := false
	for k := range q {
		if isPasswordKey(k) {
			q[k] = []string{Mask}
			changed = true
		}
	}
	if changed {
		c := *u
		c.RawQuery = q.Encode()
		u = &c
	}
	return u.Redacted()
}

// DSN returns a database connection string with its passwords replaced by
// Mask, whether it is a URL (user info or ?password=) or a libpq key=value
// string. A string that is neither is replaced whole.
func DSN(raw string) string {
	if isURL(raw) {
		return URL(raw)
	}
	kvs, ok := splitKeyValues(raw)
	if !ok {
		return "(unparsable connection string)"
	}
	var b strings.Builder
	for i, kv := range kvs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv.key)
		b.WriteByte('=')
		if isPasswordKey(kv.key) {
			b.WriteString(Mask)
		} else {
			b.WriteString(kv.raw)
		}
	}
	return b.String()
}

// Error returns err's message with the passwords of the connection string
// raw (and raw itself, where its password cannot be located) removed, for
// errors about raw.
func Error(raw string, err error) string {
	msg := err.Error()
	if raw != "" && strings.Contains(msg, raw) {
		msg = strings.ReplaceAll(msg, raw, DSN(raw))
	}
	for _, p := range Passwords(raw) {
		msg = strings.ReplaceAll(msg, p, Mask)
		if e := url.QueryEscape(p); e != p {
			msg = strings.ReplaceAll(msg, e, Mask)
		}
		if e := url.PathEscape(p); e != p {
			msg = strings.ReplaceAll(msg, e, Mask)
		}
	}
	return msg
}

// Passwords returns the non-empty passwords found in the connection string
// raw (URL user info, password query parameters, key=value pairs). It
// returns nil when there is none or raw cannot be parsed.
func Passwords(raw string) []string {
	var out []string
	add := func(p string) {
		if p != "" {
			out = append(out, p)
		}
	}
	if isURL(raw) {
		u, err := url.Parse(raw)
		if err != nil {
			return nil
		}
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for k, vs := range u.Query() {
			if isPasswordKey(k) {
				for _, v := range vs {
					add(v)
				}
			}
		}
		return out
	}
	kvs, ok := splitKeyValues(raw)
	if !ok {
		return nil
	}
	for _, kv := range kvs {
		if isPasswordKey(kv.key) {
			add(kv.value)
		}
	}
	return out
}

func isURL(raw string) bool {
	i := strings.Index(raw, "://")
	return i > 0 && !strings.ContainsAny(raw[:i], " =")
}

func isPasswordKey(k string) bool {
	switch strings.ToLower(k) {
	case "password", "pass", "pwd", "sslpassword":
		return true
	}
	return false
}

type keyValue struct {
	key   string
	value string // unquoted
	raw   string // as written
}

// splitKeyValues parses a libpq key=value connection string: values may be
// single-quoted, with \' and \\ escapes inside quotes and out.
func splitKeyValues(s string) ([]keyValue, bool) {
	var out []keyValue
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return out, len(out) > 0
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq <= 0 {
			return nil, false
		}
		key := strings.TrimSpace(s[i : i+eq])
		if key == "" || strings.ContainsAny(key, " \t'") {
			return nil, false
		}
		i += eq + 1
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		start := i
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, false
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				val.WriteByte(s[i])
				i++
			}
		}
		out = append(out, keyValue{key: key, value: val.String(), raw: s[start:i]})
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
