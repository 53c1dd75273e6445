package parquet

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go/deprecated"
)

// Value conversions of Parquet leaf values, shared by flat columns (into
// typed vectors) and nested columns (into JSON text).

const (
	julianUnixEpoch = 2440588 // Julian day number of 1970-01-01
	microsPerDay    = 86400 * 1000 * 1000
)

// int96Micros converts an INT96 timestamp (nanoseconds within the day,
// then the Julian day, little endian) to epoch microseconds. It computes
// like Spark, in wrapping 64-bit arithmetic, so the instants Spark writes
// past year 2262 (whose day and nanoseconds overflowed when written) read
// back as Spark reads them.
func int96Micros(v deprecated.Int96) int64 {
	nanos := int64(uint64(v[1])<<32 | uint64(v[0]))
	days := int64(int32(v[2])) - julianUnixEpoch
	return days*microsPerDay + nanos/1000
}

// int96Time is the instant of an INT96 timestamp with its nanoseconds.
func int96Time(v deprecated.Int96) time.Time {
	nanos := int64(uint64(v[1])<<32 | uint64(v[0]))
	return time.UnixMicro(int96Micros(v)).UTC().Add(time.Duration(nanos % 1000))
}

// millisToMicros scales milliseconds to microseconds, reporting overflow.
func millisToMicros(v int64) (int64, bool) {
	if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
		return 0, false
	}
	return v * 1000, true
}

// nanosToMicros truncates nanoseconds toward negative infinity.
func nanosToMicros(v int64) int64 {
	q := v / 1000
	if v%1000 < 0 {
		q--
	}
	return q
}

// appendTimestampText renders an instant with the precision of its unit.
func appendTimestampText(dst []byte, t time.Time) []byte {
	return t.AppendFormat(dst, time.RFC3339Nano)
}

// appendTime renders a TIME value of the given unit (1e3, 1e6 or 1e9 per
// second) as 15:04:05.000000 (or 9 fractional digits for nanoseconds).
func appendTime(dst []byte, v int64, perSecond int64) ([]byte, bool) {
	if v < 0 || v >= 86400*perSecond {
		return dst, false
	}
	secs := v / perSecond
	frac := v % perSecond
	digits := 6
	switch perSecond {
	case 1000:
		frac *= 1000
	case 1000 * 1000 * 1000:
		digits = 9
	}
	dst = append2(dst, secs/3600)
	dst = append(dst, ':')
	dst = append2(dst, secs/60%60)
	dst = append(dst, ':')
	dst = append2(dst, secs%60)
	dst = append(dst, '.')
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, buf[:digits]...), true
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendDecimal renders unscaled * 10^-scale exactly.
func appendDecimal(dst []byte, unscaled int64, scale int) []byte {
	var buf [24]byte
	neg := unscaled < 0
	u := uint64(unscaled)
	if neg {
		u = -u
	}
	digits := strconv.AppendUint(buf[:0], u, 10)
	return appendDecimalDigits(dst, neg, digits, scale)
}

// appendDecimalDigits places the decimal point scale digits from the right.
func appendDecimalDigits(dst []byte, neg bool, digits []byte, scale int) []byte {
	if neg {
		dst = append(dst, '-')
	}
	if scale <= 0 {
		return append(dst, digits...)
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for range scale - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-scale:]...)
}

// appendDecimalBE renders a big-endian two's complement unscaled value.
// ok is false for an empty value.
func appendDecimalBE(dst []byte, b []byte, scale int) ([]byte, bool) {
	if len(b) == 0 {
		return dst, false
	}
	if len(b) <= 8 {
		var v uint64
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		shift := uint(64 - 8*len(b))
		return appendDecimal(dst, int64(v<<shift)>>shift, scale), true
	}
	var x big.Int
	neg := b[0]&0x80 != 0
	if neg {
		// magnitude = ^b + 1
		tmp := make([]byte, len(b))
		for i, c := range b {
			tmp[i] = ^c
		}
		x.SetBytes(tmp)
		x.Add(&x, big.NewInt(1))
	} else {
		x.SetBytes(b)
	}
	return appendDecimalDigits(dst, neg, x.Append(nil, 10), scale), true
}

// float16 converts IEEE 754 half-precision bits (little endian) to float64.
func float16(b []byte) float64 {
	h := uint16(b[0]) | uint16(b[1])<<8
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	var f uint32
	switch {
	case exp == 0 && mant == 0:
		f = sign
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		f = sign | e<<23 | mant<<13
	case exp == 0x1f:
		f = sign | 0xff<<23 | mant<<13
	default:
		f = sign | (exp+127-15)<<23 | mant<<13
	}
	return float64(math.Float32frombits(f))
}

const hexDigits = "0123456789abcdef"

// appendUUID renders 16 bytes as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func appendUUID(dst []byte, b []byte) []byte {
	for i, c := range b[:16] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// appendInterval renders a Parquet INTERVAL (months, days, milliseconds as
// little-endian uint32) as an ISO 8601 duration, e.g. P1M2DT3.004S.
func appendInterval(dst []byte, b []byte) []byte {
	months := binary.LittleEndian.Uint32(b[0:4])
	days := binary.LittleEndian.Uint32(b[4:8])
	ms := binary.LittleEndian.Uint32(b[8:12])
	dst = append(dst, 'P')
	dst = strconv.AppendUint(dst, uint64(months), 10)
	dst = append(dst, 'M')
	dst = strconv.AppendUint(dst, uint64(days), 10)
	dst = append(dst, 'D', 'T')
	dst = strconv.AppendUint(dst, uint64(ms/1000), 10)
	dst = append(dst, '.', byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10), 'S')
	return dst
}

// appendBase64 appends the standard base64 encoding of b.
func appendBase64(dst []byte, b []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, b)
}

// appendFloatJSON renders a float for JSON; NaN and infinities, which JSON
// cannot hold, become the strings "NaN", "Infinity" and "-Infinity".
func appendFloatJSON(dst []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bitSize)
}

// uint64Fits reports whether an unsigned 64-bit value fits an int64.
func uint64Fits(v int64) bool { return v >= 0 }

// timeFromNanos is the UTC instant of epoch nanoseconds.
func timeFromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
