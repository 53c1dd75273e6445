package sink

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Temporary files of a FileSink writer carry their owner in their name —
// host (a hash of host name, boot ID and PID namespace), process ID and
// the process's start time — so a writer that died
// (kill -9, OOM) leaves files that the next writer of the dataset on the
// same host recognises as orphaned and removes at once, instead of after
// StaleTempAge. A file of another host is only removed by age: its owner
// cannot be checked from here.

// ownerSep separates the fields of an owner tag; it never occurs in a
// host hash (see hostName).
const ownerSep = "~"

var selfOwner = sync.OnceValue(func() string {
	return ownerTag(hostName(), os.Getpid(), processStart(os.Getpid()))
})

func ownerTag(host string, pid int, start string) string {
	return host + ownerSep + strconv.Itoa(pid) + ownerSep + start
}

// hostName identifies the process namespace this process's IDs belong to:
// a hash of the host name, the kernel's boot ID and the PID namespace, so
// that two pods or containers whose host names collide (or are cut short
// elsewhere) never judge each other's process IDs.
var hostName = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	ns, _ := os.Readlink("/proc/self/ns/pid")
	sum := sha256.Sum256([]byte(h + "\x00" + strings.TrimSpace(string(boot)) + "\x00" + ns))
	return hex.EncodeToString(sum[:8])
})

// processStart returns the start time of process pid in clock ticks since
// boot (/proc/<pid>/stat field 22), which tells a process from a later one
// that reuses its ID; "" when it cannot be read (no such process, no
// /proc).
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	// After ")": state is field 3, starttime field 22.
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// tempOwnerDead reports whether the temporary file name was written by a
// process of this host that no longer runs. Names without an owner tag
// (older versions) and files of other hosts report false.
func tempOwnerDead(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".parquet"), ".ndjson")
	i := strings.IndexByte(base, '.') // part-<hash>-<random>.<owner>: hex before it
	if i < 0 {
		return false
	}
	parts := strings.Split(base[i+1:], ownerSep)
	if len(parts) != 3 || parts[0] != hostName() {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if parts[2] == "" {
		return false // the owner's start time was unknown: judge by age only
	}
	return processStart(pid) != parts[2]
}

// sweepTemp removes the temporary files in dir whose writer is dead (see
// tempOwnerDead) or that are older than StaleTempAge (left by a crashed
// writer of another host or an older version; live writers touch their
// files continuously).
func (s *FileSink) sweepTemp(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-s.opt.StaleTempAge)
	for _, e := range ents {
		if tempOwnerDead(e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
