package sink

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSweepRemovesFilesOfDeadWriters: a temporary file whose owner (this
// host, a process that was killed) is dead goes at the next sweep; files of
// live writers, of other hosts and of unknown owners stay until they are
// old.
func TestSweepRemovesFilesOfDeadWriters(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start := processStart(pid)
	if start == "" {
		t.Fatalf("no start time for a running process %d (is /proc mounted?)", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	dir := t.TempDir()
	files := map[string]bool{ // name -> removed by the sweep
		"part-aa-01." + ownerTag(hostName(), pid, start) + ".parquet":   true,  // killed writer
		"part-aa-01." + ownerTag(hostName(), pid, start) + ".ndjson":    true,  // its rejects
		"part-bb-02." + selfOwner() + ".parquet":                        false, // this process: alive
		"part-cc-03." + ownerTag("other-host", pid, start) + ".parquet": false, // cannot tell: age only
		"part-dd-04.parquet": false, // an older version's name
		"part-ee-05." + ownerTag(hostName(), os.Getpid(), "") + ".parquet": false, // start unknown
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &FileSink{opt: FileOptions{StaleTempAge: DefaultStaleTempAge}}
	s.sweepTemp(dir)
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := os.IsNotExist(err); gone != removed {
			t.Errorf("%s: removed %v, want %v", name, gone, removed)
		}
	}
}
