package harness

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// vectorFlags are the /proc/cpuinfo flags worth recording: DuckDB's
// vectorized kernels gain much more from AVX-512 than s3ingest does
// (measured: DuckDB 2.3× faster on a machine with it, s3ingest 1.4×), so
// the ratios depend on them.
var vectorFlags = []string{"avx2", "avx512f", "avx512bw", "avx512vl"}

// machineInfo describes the host from /proc (Linux).
func machineInfo() (cpu string, cpus int, mem int64, kernel, load string, flags []string) {
	cpus = runtime.NumCPU()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if cpu == "" {
					cpu = strings.TrimSpace(v)
				}
			case "flags":
				if flags == nil {
					have := strings.Fields(v)
					flags = []string{}
					for _, fl := range vectorFlags {
						if slices.Contains(have, fl) {
							flags = append(flags, fl)
						}
					}
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				mem = kb * 1024
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
