package sink

import (
	"os"

	"golang.org/x/sys/unix"
)

// writebackRange asks the kernel to start writing [off, off+n) of f to
// disk, without waiting for it (see writebackFile).
func writebackRange(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
