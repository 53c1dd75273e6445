package main

import (
	"strings"
	"testing"
)

func TestDaemonRefusesToStartWithoutSecretKey(t *testing.T) {
	t.Setenv("S3INGEST_SECRET_KEY", "")
	root := newRootCmd()
	root.SetArgs([]string{"--redis-url", "redis://127.0.0.1:1/0", "--admin-addr", "off"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "S3INGEST_SECRET_KEY") {
		t.Fatalf("ingestd without a key: %v", err)
	}
	t.Setenv("S3INGEST_SECRET_KEY", "too-short")
	root = newRootCmd()
	root.SetArgs([]string{"--redis-url", "redis://127.0.0.1:1/0", "--admin-addr", "off"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "S3INGEST_SECRET_KEY") {
		t.Fatalf("ingestd with a malformed key: %v", err)
	}
}

func TestDaemonReportsUnreachableRedis(t *testing.T) {
	t.Setenv("S3INGEST_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	root := newRootCmd()
	root.SetArgs([]string{"--redis-url", "redis://127.0.0.1:1/0", "--admin-addr", "off"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "S3INGEST_REDIS_URL") {
		t.Fatalf("ingestd with Redis down: %v", err)
	}
}
