// Package buildinfo reports what binary is running: the module version, the
// VCS revision and time it was built from, and the Go version. Both binaries
// print it for --version and ingestd exports it as the s3ingest_build_info
// metric.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Info describes the running binary. Fields the build did not record are
// "unknown" (Version is "(devel)" for a build from a work tree).
type Info struct {
	// Version is the main module's version.
	Version string `json:"version"`
	// Revision is the VCS commit, with "+dirty" when the tree had changes.
	Revision string `json:"revision"`
	// Time is the commit time (RFC 3339).
	Time string `json:"time"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Read returns the binary's build information.
func Read() Info {
	in := Info{Version: "unknown", Revision: "unknown", Time: "unknown", GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	in.GoVersion = bi.GoVersion
	if v := bi.Main.Version; v != "" {
		in.Version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "unknown" {
		in.Revision += "+dirty"
	}
	return in
}

// String renders the one line printed by --version.
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s, %s)", i.Version, i.Revision, i.Time, i.GoVersion)
}
