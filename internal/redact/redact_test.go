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
		{"postgres://u@h/db?password=hunter2&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
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

func TestDSN(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"url user info", "postgres://app:hunter2@db:5432/data", "postgres://app:xxxxx@db:5432/data"},
		{"url query", "postgresql://app@db/data?sslmode=require&password=hunter2", "postgresql://app@db/data?password=xxxxx&sslmode=require"},
		{"url both", "postgres://app:hunter2@db/data?password=hunter2", "postgres://app:xxxxx@db/data?password=xxxxx"},
		{"url without password", "postgres://app@db/data", "postgres://app@db/data"},
		{"key value", "host=db user=app password=hunter2 dbname=data", "host=db user=app password=xxxxx dbname=data"},
		{"key value quoted", "host=db password='hunter 2\\'x' dbname=data", "host=db password=xxxxx dbname=data"},
		{"key value spaces around =", "host = db password = hunter2", "host=db password=xxxxx"},
		{"key value upper case key", "host=db PASSWORD=hunter2", "host=db PASSWORD=xxxxx"},
		{"unterminated quote", "host=db password='hunter2", "(unparsable connection string)"},
		{"garbage", "hunter2", "(unparsable connection string)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DSN(tt.raw)
			if got != tt.want {
				t.Errorf("DSN(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			if strings.Contains(got, "hunter") {
				t.Errorf("DSN(%q) leaks the password: %q", tt.raw, got)
			}
			msg := Error(tt.raw, errors.New("connect "+tt.raw+": password authentication failed"))
			if strings.Contains(msg, "hunter") {
				t.Errorf("Error(%q) leaks the password: %q", tt.raw, msg)
			}
		})
	}
}

func TestErrorMasksBarePasswords(t *testing.T) {
	raw := "host=db password='hunter 2' dbname=data"
	msg := Error(raw, errors.New("server said: hunter 2 / hunter+2 / hunter%202 is wrong"))
	if strings.Contains(msg, "hunter") {
		t.Fatalf("Error leaks the password: %q", msg)
	}
}

func TestPasswords(t *testing.T) {
	got := Passwords("host=db password='a b' sslpassword=c")
	if len(got) != 2 || got[0] != "a b" || got[1] != "c" {
		t.Fatalf("Passwords = %q, want [a b, c]", got)
	}
	if p := Passwords("postgres://u@h/db"); p != nil {
		t.Fatalf("Passwords of a URL without one = %q", p)
	}
}
