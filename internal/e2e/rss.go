package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS returns the peak resident set size of process pid in bytes, as
// the kernel reports it in the VmHWM line of /proc/<pid>/status (Linux
// only). It reads a live process: call it before the process exits (after
// exit, /proc no longer has it). It counts the whole process (heap, stacks,
// binary, mapped files), which is what an operator's memory limit applies to.
func PeakRSS(pid int) (int64, error) {
	return procStatusBytes(pid, "VmHWM")
}

// RSS returns the current resident set size of process pid in bytes (the
// VmRSS line of /proc/<pid>/status).
func RSS(pid int) (int64, error) {
	return procStatusBytes(pid, "VmRSS")
}

// procStatusBytes reads a "<field>:   <n> kB" line of /proc/<pid>/status.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("process %d: unexpected %s line %q", pid, field, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("process %d: %s: %w", pid, field, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("process %d: no %s line in /proc/%d/status", pid, field, pid)
}
