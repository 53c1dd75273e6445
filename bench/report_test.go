package bench

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/s3ingest/s3ingest/internal/testenv"
)

// A comparison is one s3ingest component and its peers, measured on the
// same data in the same run. Benchmarks note their throughput here and
// TestMain prints one table with the ratio of s3ingest to each peer, per
// wall-clock second and per CPU-second (getrusage: steadier than wall time
// when the machine is shared; GC work included).
type measurement struct {
	unit      string  // "MB/s" or "rows/s"
	wall, cpu float64 // units per wall-clock second and per CPU-second (0 if unknown)
}

var (
	tableMu sync.Mutex
	table   = map[string]map[string]measurement{} // comparison -> implementation -> result
)

// ours names the s3ingest implementation in every comparison.
const ours = "s3ingest"

// note records the throughput of impl in comparison: amount units were
// processed in wall wall-clock seconds and cpu CPU-seconds.
func note(comparison, impl, unit string, amount float64, wall, cpu float64) {
	m := measurement{unit: unit}
	if wall > 0 {
		m.wall = amount / wall
	}
	if cpu > 0 {
		m.cpu = amount / cpu
	}
	tableMu.Lock()
	defer tableMu.Unlock()
	if table[comparison] == nil {
		table[comparison] = map[string]measurement{}
	}
	table[comparison][impl] = m
}

// printTable writes the comparison table (markdown, for the README).
func printTable() {
	tableMu.Lock()
	defer tableMu.Unlock()
	if len(table) == 0 {
		return
	}
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Println()
	fmt.Println("| comparison | implementation | per second | per CPU-second | s3ingest ÷ peer (wall / CPU) |")
	fmt.Println("|---|---|---|---|---|")
	for _, n := range names {
		impls := make([]string, 0, len(table[n]))
		for i := range table[n] {
			if i != ours {
				impls = append(impls, i)
			}
		}
		sort.Strings(impls)
		o, haveOurs := table[n][ours]
		if haveOurs {
			fmt.Printf("| %s | %s | %s | %s | |\n", n, ours, human(o.wall, o.unit), human(o.cpu, o.unit))
		}
		for _, i := range impls {
			p := table[n][i]
			ratio := ""
			if haveOurs && p.wall > 0 {
				ratio = fmt.Sprintf("%.2f×", o.wall/p.wall)
				if p.cpu > 0 && o.cpu > 0 {
					ratio += fmt.Sprintf(" / %.2f×", o.cpu/p.cpu)
				}
			}
			fmt.Printf("| %s | %s | %s | %s | %s |\n", n, i, human(p.wall, p.unit), human(p.cpu, p.unit), ratio)
		}
	}
}

func human(v float64, unit string) string {
	switch {
	case v == 0:
		return "–"
	case unit == "rows/s" && v >= 1e6:
		return fmt.Sprintf("%.2f M rows", v/1e6)
	case unit == "rows/s":
		return fmt.Sprintf("%.0f k rows", v/1e3)
	}
	return fmt.Sprintf("%.0f MB", v)
}

// TestMain prints the comparison table after the benchmarks ran, and stops
// the servers the pipeline benchmark started.
func TestMain(m *testing.M) { testenv.Main(m, printTable) }
