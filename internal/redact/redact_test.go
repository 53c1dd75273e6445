package redact

import (
	"errors"
	"strings"
	"testing"
)

func TestURLAndError(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"redis://:hunter2@10.0.0.5:6379/0", "redis://:xxxxx@10.0.0.5:6379/0"},
		{"redis://user:hunter2@h:6379", "redis://user:xxxxx@h:6379"},
		{"redis://h:6379/0", "redis://h:6379/0"},
		{"redis://:hunter2@h:port/0", "(unparsable URL)"},
	}
	for _, tt := range tests {
		if got := URL(tt.raw); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
		}
		msg := Error(tt.raw, errors.New("dial "+tt.raw+": refused"))
		if strings.Contains(msg, "hunter2") {
			t.Errorf("Error(%q) = %q leaks the password", tt.raw, msg)
		}
	}
}
