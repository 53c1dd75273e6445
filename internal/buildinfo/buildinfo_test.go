package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	in := Read()
	// A test binary carries build info: the Go version must be this one.
	if in.GoVersion != runtime.Version() {
		t.Fatalf("GoVersion = %q, want %q", in.GoVersion, runtime.Version())
	}
	for name, v := range map[string]string{"Version": in.Version, "Revision": in.Revision, "Time": in.Time} {
		if v == "" {
			t.Errorf("%s is empty; want a value or \"unknown\"", name)
		}
	}
	if s := in.String(); !strings.Contains(s, in.Version) || !strings.Contains(s, in.GoVersion) {
		t.Errorf("String() = %q lacks the version or the Go version", s)
	}
}
