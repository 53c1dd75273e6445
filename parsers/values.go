package parsers

import (
	"math"
	"strconv"
	"unsafe"
)

// Fast, allocation-free value parsers used by inference and by the
// conversion loop. They accept exactly the syntax documented in infer.go.

// trimSpace removes ASCII white space at both ends.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte { return c | 0x20 }

// parseBool accepts true/false in any letter case.
func parseBool(b []byte) (bool, bool) {
	switch len(b) {
	case 4:
		if lower(b[0]) == 't' && lower(b[1]) == 'r' && lower(b[2]) == 'u' && lower(b[3]) == 'e' {
			return true, true
		}
	case 5:
		if lower(b[0]) == 'f' && lower(b[1]) == 'a' && lower(b[2]) == 'l' && lower(b[3]) == 's' && lower(b[4]) == 'e' {
			return false, true
		}
	}
	return false, false
}

// parseInt parses [+-]digits into an int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		if len(b) > 19 {
			// may still fit if it has leading zeros; rare: use strconv.
			return parseIntSlow(neg, b)
		}
		return 0, false
	}
	var n uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

func parseIntSlow(neg bool, b []byte) (int64, bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
	if err != nil {
		if neg && len(b) > 0 {
			// -9223372036854775808 with leading zeros
			v2, err2 := strconv.ParseInt("-"+string(b), 10, 64)
			return v2, err2 == nil
		}
		return 0, false
	}
	if neg {
		return -v, true
	}
	return v, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// numberSyntax checks [+-]digits[.digits][(e|E)[+-]digits] (at least one
// digit in the mantissa) and reports whether it is an integer.
func numberSyntax(b []byte) (ok, integer bool) {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		ed := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			ed++
		}
		if ed == 0 {
			return false, false
		}
	}
	return i == len(b), integer
}

// parseFloat parses a decimal number. Short numbers take an exact fast path
// (mantissa < 2^53 and a power of ten ≤ 22, as strconv does); others go to
// strconv.ParseFloat without allocating.
func parseFloat(b []byte) (float64, bool) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var mant uint64
	nd := 0 // significant digits accumulated
	exp := 0
	digits := 0
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		digits++
		if nd < 19 {
			mant = mant*10 + uint64(d)
			if mant != 0 {
				nd++
			}
		} else {
			exp++
			nd++
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b); i++ {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			digits++
			if nd < 19 {
				mant = mant*10 + uint64(d)
				exp--
				if mant != 0 {
					nd++
				}
			} else {
				nd++
			}
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return 0, false
		}
		return parseFloatSlow(b)
	}
	if nd <= 15 && mant < 1<<53 {
		f := float64(mant)
		switch {
		case exp == 0:
		case exp < 0 && exp >= -22:
			f /= pow10[-exp]
		case exp > 0 && exp <= 22:
			f *= pow10[exp]
		default:
			return parseFloatSlow(b)
		}
		if neg {
			f = -f
		}
		return f, true
	}
	return parseFloatSlow(b)
}

func parseFloatSlow(b []byte) (float64, bool) {
	if ok, _ := numberSyntax(b); !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

func digits2(b []byte) (int, bool) {
	d0, d1 := b[0]-'0', b[1]-'0'
	if d0 > 9 || d1 > 9 {
		return 0, false
	}
	return int(d0)*10 + int(d1), true
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

var monthDays = [...]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// daysFromCivil returns days since 1970-01-01 (proleptic Gregorian).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseDate parses YYYY-MM-DD.
func parseDate(b []byte) (int64, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	return parseDateParts(b)
}

func parseDateParts(b []byte) (int64, bool) {
	_ = b[9]
	d0, d1, d2, d3 := b[0]-'0', b[1]-'0', b[2]-'0', b[3]-'0'
	m0, m1, e0, e1 := b[5]-'0', b[6]-'0', b[8]-'0', b[9]-'0'
	if d0 > 9 || d1 > 9 || d2 > 9 || d3 > 9 || m0 > 9 || m1 > 9 || e0 > 9 || e1 > 9 {
		return 0, false
	}
	y := int(d0)*1000 + int(d1)*100 + int(d2)*10 + int(d3)
	m := int(m0)*10 + int(m1)
	d := int(e0)*10 + int(e1)
	if m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	md := monthDays[m]
	if m == 2 && isLeap(y) {
		md = 29
	}
	if d > md {
		return 0, false
	}
	if y >= monthStartBase && y < monthStartBase+len(monthStart)/12 {
		return int64(monthStart[(y-monthStartBase)*12+m-1]) + int64(d-1), true
	}
	return daysFromCivil(y, m, d), true
}

// monthStart caches the epoch day of the first of each month of common
// years.
const monthStartBase = 1900

var monthStart = func() []int32 {
	t := make([]int32, 250*12)
	for i := range t {
		t[i] = int32(daysFromCivil(monthStartBase+i/12, i%12+1, 1))
	}
	return t
}()

// parseTimestamp parses an ISO-8601 timestamp:
//
//	YYYY-MM-DD(T|t| )HH:MM[:SS[.fraction]][Z|z|±HH:MM|±HHMM|±HH]
//
// with at most 9 fraction digits (truncated to microseconds). No zone means
// UTC. It returns microseconds since the epoch.
func parseTimestamp(b []byte) (int64, bool) {
	if len(b) < 16 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' {
		return 0, false
	}
	days, ok := parseDateParts(b[:10])
	if !ok {
		return 0, false
	}
	h0, h1, n0, n1 := b[11]-'0', b[12]-'0', b[14]-'0', b[15]-'0'
	if h0 > 9 || h1 > 9 || n0 > 9 || n1 > 9 {
		return 0, false
	}
	hh, mm := int(h0)*10+int(h1), int(n0)*10+int(n1)
	if hh > 23 || mm > 59 {
		return 0, false
	}
	ss, us := 0, 0
	i := 16
	if i < len(b) && b[i] == ':' {
		if len(b) < i+3 {
			return 0, false
		}
		var ok bool
		ss, ok = digits2(b[i+1 : i+3])
		if !ok || ss > 59 {
			return 0, false
		}
		i += 3
		if i < len(b) && (b[i] == '.' || b[i] == ',') {
			i++
			n := 0
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				if n < 6 {
					us = us*10 + int(b[i]-'0')
				}
				n++
				i++
			}
			if n == 0 || n > 9 {
				return 0, false
			}
			for ; n < 6; n++ {
				us *= 10
			}
		}
	}
	off := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := 1
			if b[i] == '-' {
				sign = -1
			}
			i++
			if len(b) < i+2 {
				return 0, false
			}
			oh, ok := digits2(b[i : i+2])
			if !ok || oh > 23 {
				return 0, false
			}
			i += 2
			om := 0
			if i < len(b) && b[i] == ':' {
				i++
			}
			if len(b) >= i+2 {
				om, ok = digits2(b[i : i+2])
				if !ok || om > 59 {
					return 0, false
				}
				i += 2
			}
			off = sign * (oh*3600 + om*60)
		default:
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	secs := days*86400 + int64(hh*3600+mm*60+ss) - int64(off)
	return secs*1e6 + int64(us), true
}
