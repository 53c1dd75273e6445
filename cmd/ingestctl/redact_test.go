package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRedisPasswordNeverPrinted: neither --help nor a connection error
// shows the password of S3INGEST_REDIS_URL.
func TestRedisPasswordNeverPrinted(t *testing.T) {
	t.Setenv("S3INGEST_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
	for _, args := range [][]string{{"--help"}, {"schedule", "list"}, {"task", "status", "x"}} {
		var out, errOut bytes.Buffer
		a := &app{stdout: &out, stderr: &errOut}
		root := newRootCmd(a)
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errOut)
		err := root.Execute()
		a.close()
		all := out.String() + errOut.String()
		if err != nil {
			all += err.Error()
		}
		if strings.Contains(all, "hunter2") {
			t.Fatalf("ingestctl %v printed the Redis password:\n%s", args, all)
		}
		if args[0] != "--help" && err == nil {
			t.Fatalf("ingestctl %v succeeded without Redis", args)
		}
	}
}
