package proc

import (
	"context"
	"strings"
	"testing"
)

func TestCPUList(t *testing.T) {
	for n, want := range map[int]string{1: "0", 2: "0,1", 3: "0,1,2"} {
		if got := CPUList(n); got != want {
			t.Errorf("CPUList(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRun checks that a pinned child is measured (wall time, peak RSS),
// sees GOMAXPROCS, and that its JSON output is decoded; a failing child
// is an error carrying its stderr.
func TestRun(t *testing.T) {
	ctx := context.Background()
	r, err := Run(ctx, Command{Cores: 1, Path: "/bin/sh", Args: []string{"-c", `echo "{\"procs\":\"$GOMAXPROCS\",\"cpus\":\"$(taskset -cp $$ | sed 's/.*: //')\"}"`}})
	if err != nil {
		t.Fatal(err)
	}
	if r.WallSeconds <= 0 || r.PeakRSSBytes <= 0 {
		t.Errorf("not measured: %+v", r)
	}
	if r.Reported["procs"] != "1" || r.Reported["cpus"] != "0" {
		t.Errorf("the child saw GOMAXPROCS %v on CPUs %v, want 1 on 0", r.Reported["procs"], r.Reported["cpus"])
	}
	_, err = Run(ctx, Command{Cores: 1, Path: "/bin/sh", Args: []string{"-c", "echo broken input >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "exit status 3: broken input") {
		t.Errorf("error %v, want one with the exit status and stderr", err)
	}
}
