package main

import (
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/internal/buildinfo"
	"github.com/s3ingest/s3ingest/internal/testenv"
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

// TestSinkPasswordNeverPrinted starts ingestd against a real Redis with a
// PostgreSQL sink that cannot be reached (or parsed), its password given in
// each of the three forms a DSN can carry it: the error names the sink
// without the password.
func TestSinkPasswordNeverPrinted(t *testing.T) {
	rs := testenv.Redis(t)
	t.Setenv("S3INGEST_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	const pw = "hunter2-Secret"
	for _, dsn := range []string{
		"postgres://app:" + pw + "@127.0.0.1:1/data?connect_timeout=2",
		"postgres://app@127.0.0.1:1/data?password=" + pw + "&connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password=" + pw + " dbname=data connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password='" + pw + " x' dbname=data",
		"postgres://app:" + pw + "@127.0.0.1:notaport/data",
	} {
		root := newRootCmd()
		root.SetArgs([]string{"--redis-url", rs.URL(), "--admin-addr", "off", "--sink", dsn})
		err := root.Execute()
		if err == nil {
			t.Fatalf("ingestd with sink %q started", dsn)
		}
		if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "S3INGEST_SINK") {
			t.Errorf("ingestd with sink %q: error %q prints the password or does not name S3INGEST_SINK", dsn, err)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), buildinfo.Read().GoVersion) {
		t.Fatalf("--version printed %q, want the build info", out.String())
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }
