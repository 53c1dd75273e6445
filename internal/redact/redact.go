// Package redact keeps passwords in connection URLs out of messages.
package redact

import (
	"net/url"
	"strings"
)

// URL returns raw with its password replaced by "xxxxx"; a URL that does
// not parse is replaced whole, since where its password is cannot be told.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Error returns err's message with raw's password (and raw itself, if it
// does not parse) removed, for errors about the connection URL raw.
func Error(raw string, err error) string {
	msg := err.Error()
	u, perr := url.Parse(raw)
	if perr != nil {
		return strings.ReplaceAll(msg, raw, URL(raw))
	}
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}
