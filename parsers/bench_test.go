package parsers

import (
	"context"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// genRows writes synthetic rows with 12 mixed columns (ints, floats, a
// date, timestamps, strings with quotes and commas, a bool) as CSV or
// NDJSON. It is deterministic.
type genRows struct {
	json  bool
	i     int
	limit int64 // stop after this many bytes (at a row boundary)
	n     int64
	buf   []byte
	off   int
}

var genNames = []string{"alice", "bob", "carol", "dave", "eve", "mallory", "oscar", "peggy"}
var genCountries = []string{"DE", "FR", "US", "JP", "BR", "IN"}

func (g *genRows) header() []byte {
	if g.json {
		return nil
	}
	return []byte("id,user_id,amount,ratio,count,created,updated,event_ts,name,comment,flag,country\n")
}

func (g *genRows) row(dst []byte) []byte {
	i := g.i
	g.i++
	x := uint64(i)*2654435761 + 12345
	day := 1 + int(x%28)
	sec := int(x % 86400)
	ts := "2024-03-" + pad2(day) + "T" + pad2(sec/3600) + ":" + pad2(sec/60%60) + ":" + pad2(sec%60)
	name := genNames[x%uint64(len(genNames))]
	if g.json {
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, `,"user_id":`...)
		dst = strconv.AppendInt(dst, int64(x%1000003), 10)
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendFloat(dst, float64(x%100000)/100, 'f', 2, 64)
		dst = append(dst, `,"ratio":`...)
		dst = strconv.AppendFloat(dst, float64(x%1000003)/1000003, 'f', 6, 64)
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(x%100), 10)
		dst = append(dst, `,"created":"2024-02-`...)
		dst = append(dst, pad2(day)...)
		dst = append(dst, `","updated":"`...)
		dst = append(dst, ts...)
		dst = append(dst, `Z","event_ts":"`...)
		dst = append(dst, ts...)
		dst = append(dst, `.123456+02:00","name":"`...)
		dst = append(dst, name...)
		dst = append(dst, `","comment":"said \"hi\", then left #`...)
		dst = strconv.AppendInt(dst, int64(x%997), 10)
		dst = append(dst, `","flag":`...)
		dst = strconv.AppendBool(dst, x%3 == 0)
		dst = append(dst, `,"country":"`...)
		dst = append(dst, genCountries[x%uint64(len(genCountries))]...)
		return append(dst, "\"}\n"...)
	}
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(x%1000003), 10)
	dst = append(dst, ',')
	dst = strconv.AppendFloat(dst, float64(x%100000)/100, 'f', 2, 64)
	dst = append(dst, ',')
	dst = strconv.AppendFloat(dst, float64(x%1000003)/1000003, 'f', 6, 64)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(x%100), 10)
	dst = append(dst, ",2024-02-"...)
	dst = append(dst, pad2(day)...)
	dst = append(dst, ',')
	dst = append(dst, ts...)
	dst = append(dst, "Z,"...)
	dst = append(dst, ts...)
	dst = append(dst, ".123456+02:00,"...)
	dst = append(dst, name...)
	dst = append(dst, `,"said ""hi"", then left #`...)
	dst = strconv.AppendInt(dst, int64(x%997), 10)
	dst = append(dst, `",`...)
	dst = strconv.AppendBool(dst, x%3 == 0)
	dst = append(dst, ',')
	dst = append(dst, genCountries[x%uint64(len(genCountries))]...)
	return append(dst, '\n')
}

func pad2(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

// Read implements io.Reader, generating rows until limit bytes.
func (g *genRows) Read(p []byte) (int, error) {
	if g.off >= len(g.buf) {
		if g.n >= g.limit {
			return 0, io.EOF
		}
		g.buf = g.buf[:0]
		if g.i == 0 {
			g.buf = append(g.buf, g.header()...)
		}
		for len(g.buf) < 32<<10 && g.n+int64(len(g.buf)) < g.limit {
			g.buf = g.row(g.buf)
		}
		g.n += int64(len(g.buf))
		g.off = 0
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

func genBytes(json bool, size int64) []byte {
	g := &genRows{json: json, limit: size}
	b, _ := io.ReadAll(g)
	return b
}

// genObject streams generated rows without holding them in memory.
type genObject struct {
	json bool
	size int64
}

func (o genObject) Name() string { return "gen" }
func (o genObject) Size() int64  { return -1 }
func (o genObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(&genRows{json: o.json, limit: o.size}), nil
}

func readAll(tb testing.TB, obj Object, opts Options) int {
	r, err := Open(context.Background(), obj, opts)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), DefaultBatchRows)
	rows := 0
	for {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			return rows
		}
		if err != nil {
			tb.Fatal(err)
		}
		rows += b.Len()
	}
}

func benchRead(b *testing.B, json bool) {
	data := genBytes(json, 10<<20)
	obj := BytesObject("bench", data)
	r, err := Open(context.Background(), obj, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("schema: %s", r.Schema())
	r.Close()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		readAll(b, obj, Options{})
	}
	if cpu := cpuTime() - c0; cpu > 0 {
		// throughput per CPU-second (includes GC work), steady under load
		b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkCSV reads ~10 MB of 12-column CSV with inference and typing.
func BenchmarkCSV(b *testing.B) { benchRead(b, false) }

// BenchmarkNDJSON reads ~10 MB of 12-key NDJSON with inference and typing.
func BenchmarkNDJSON(b *testing.B) { benchRead(b, true) }

// peakHeap reads obj and returns the peak HeapInuse seen between batches.
func peakHeap(tb testing.TB, obj Object) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	r, err := Open(context.Background(), obj, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), DefaultBatchRows)
	var peak uint64
	for k := 0; ; k++ {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if k%8 == 0 {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak {
				peak = ms.HeapInuse - base
			}
		}
	}
	return peak
}

// TestMemoryFlat reads 10 MB and 100 MB of generated data (streamed, never
// held in memory) and checks that the peak heap growth does not grow with
// the input size.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("reads 220 MB")
	}
	for _, json := range []bool{false, true} {
		small := peakHeap(t, genObject{json: json, size: 10 << 20})
		large := peakHeap(t, genObject{json: json, size: 100 << 20})
		t.Logf("json=%v: peak heap growth 10 MB: %d KB, 100 MB: %d KB", json, small>>10, large>>10)
		if large > small+8<<20 {
			t.Errorf("json=%v: peak heap grows with the input: %d KB for 10 MB, %d KB for 100 MB", json, small>>10, large>>10)
		}
	}
}
