// Package gen writes the benchmark's deterministic data: N rows of 12 mixed
// columns as CSV, gzip CSV, NDJSON and a JSON array, and knows what every
// correct reader must find in them (Truth).
//
// The columns mirror the generator of the component benchmarks
// (bench/csvjson_test.go: id, user_id, amount, ratio, count, created,
// updated, event_ts, name, comment, flag, country) and add nulls:
//
//	id        int64, 0..N-1
//	user_id   int64, null in 1 row of 11
//	amount    float64 with 2 decimals
//	ratio     float64 with 6 decimals, null in 1 row of 13
//	count     int64, 0..99
//	created   date, 2024-02-DD
//	updated   timestamp without fraction, UTC: 2024-03-DDTHH:MM:SSZ
//	event_ts  timestamp with microseconds and an offset: ...T..:..:...ffffff+02:00
//	name      string
//	comment   string with a comma and escaped quotes: said "hi", then left #N
//	flag      bool
//	country   string, null in 1 row of 17
//
// In CSV a null is an empty unquoted field (null for DuckDB and s3ingest
// alike); in JSON it is null.
package gen

import "strconv"

// Columns are the column names in file order.
var Columns = []string{"id", "user_id", "amount", "ratio", "count", "created", "updated", "event_ts", "name", "comment", "flag", "country"}

var (
	names     = []string{"alice", "bob", "carol", "dave", "eve", "mallory", "oscar", "peggy"}
	countries = []string{"DE", "FR", "US", "JP", "BR", "IN"}
)

// row is one generated row; its fields are derived from (seed, i) only.
type row struct {
	id, userID, count    int64
	userNull, ratioNull  bool
	countryNull, flag    bool
	amountCents          int64 // amount = amountCents/100
	ratioMicros          int64 // ratio = ratioMicros/1e6
	day, createdDay, sec int
	frac                 int // microseconds of event_ts
	name, country        string
	commentN             int64
}

// splitmix64 is the seeded hash every value comes from.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func makeRow(seed uint64, i int64) row {
	x := splitmix64(seed ^ uint64(i)*0x9e3779b97f4a7c15)
	y := splitmix64(x)
	return row{
		id:          i,
		userID:      int64(x % 1000003),
		userNull:    y%11 == 0,
		amountCents: int64(x % 10000000),
		ratioMicros: int64((x >> 20) % 1000000),
		ratioNull:   (y>>8)%13 == 0,
		count:       int64((x >> 11) % 100),
		createdDay:  1 + int((x>>17)%28),
		day:         1 + int((x>>23)%28),
		sec:         int((x >> 29) % 86400),
		frac:        int((y >> 20) % 1000000),
		name:        names[(x>>41)%uint64(len(names))],
		commentN:    int64((x >> 44) % 997),
		flag:        (x>>50)%3 == 0,
		country:     countries[(x>>53)%uint64(len(countries))],
		countryNull: (y>>16)%17 == 0,
	}
}

func pad(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendDate(b []byte, month, day int) []byte {
	b = append(b, "2024-"...)
	b = pad(b, month, 2)
	b = append(b, '-')
	return pad(b, day, 2)
}

// appendDateTime appends 2024-03-DDTHH:MM:SS.
func (r *row) appendDateTime(b []byte) []byte {
	b = appendDate(b, 3, r.day)
	b = append(b, 'T')
	b = pad(b, r.sec/3600, 2)
	b = append(b, ':')
	b = pad(b, r.sec/60%60, 2)
	b = append(b, ':')
	return pad(b, r.sec%60, 2)
}

func appendFixed(b []byte, v int64, scale int64, decimals int) []byte {
	b = strconv.AppendInt(b, v/scale, 10)
	b = append(b, '.')
	return pad(b, int(v%scale), decimals)
}

// appendCSV appends the row as a CSV record.
func (r *row) appendCSV(b []byte) []byte {
	b = strconv.AppendInt(b, r.id, 10)
	b = append(b, ',')
	if !r.userNull {
		b = strconv.AppendInt(b, r.userID, 10)
	}
	b = append(b, ',')
	b = appendFixed(b, r.amountCents, 100, 2)
	b = append(b, ',')
	if !r.ratioNull {
		b = appendFixed(b, r.ratioMicros, 1000000, 6)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, r.count, 10)
	b = append(b, ',')
	b = appendDate(b, 2, r.createdDay)
	b = append(b, ',')
	b = r.appendDateTime(b)
	b = append(b, "Z,"...)
	b = r.appendDateTime(b)
	b = append(b, '.')
	b = pad(b, r.frac, 6)
	b = append(b, "+02:00,"...)
	b = append(b, r.name...)
	b = append(b, `,"said ""hi"", then left #`...)
	b = strconv.AppendInt(b, r.commentN, 10)
	b = append(b, `",`...)
	b = strconv.AppendBool(b, r.flag)
	b = append(b, ',')
	if !r.countryNull {
		b = append(b, r.country...)
	}
	return append(b, '\n')
}

// appendJSON appends the row as one JSON object (no newline).
func (r *row) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.id, 10)
	b = append(b, `,"user_id":`...)
	if r.userNull {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, r.userID, 10)
	}
	b = append(b, `,"amount":`...)
	b = appendFixed(b, r.amountCents, 100, 2)
	b = append(b, `,"ratio":`...)
	if r.ratioNull {
		b = append(b, "null"...)
	} else {
		b = appendFixed(b, r.ratioMicros, 1000000, 6)
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, r.count, 10)
	b = append(b, `,"created":"`...)
	b = appendDate(b, 2, r.createdDay)
	b = append(b, `","updated":"`...)
	b = r.appendDateTime(b)
	b = append(b, `Z","event_ts":"`...)
	b = r.appendDateTime(b)
	b = append(b, '.')
	b = pad(b, r.frac, 6)
	b = append(b, `+02:00","name":"`...)
	b = append(b, r.name...)
	b = append(b, `","comment":"said \"hi\", then left #`...)
	b = strconv.AppendInt(b, r.commentN, 10)
	b = append(b, `","flag":`...)
	b = strconv.AppendBool(b, r.flag)
	b = append(b, `,"country":`...)
	if r.countryNull {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = append(b, r.country...)
		b = append(b, '"')
	}
	return append(b, '}')
}
