/*
 * binconv.c - text to binary COPY fields (binconv.h): what each server
 * input function accepts, and the subset taken here.
 */
#include "binconv.h"

#include "pgcopyfs.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum pcf_bin_type type;
} by_name[] = {
	{ "int2", PCF_BIN_INT2 },     { "int4", PCF_BIN_INT4 },
	{ "int8", PCF_BIN_INT8 },     { "float4", PCF_BIN_FLOAT4 },
	{ "float8", PCF_BIN_FLOAT8 }, { "bool", PCF_BIN_BOOL },
	{ "uuid", PCF_BIN_UUID },     { "text", PCF_BIN_TEXT },
	{ "varchar", PCF_BIN_TEXT },  { "bpchar", PCF_BIN_TEXT },
	{ "name", PCF_BIN_TEXT },     { "date", PCF_BIN_DATE },
	{ "timestamp", PCF_BIN_TIMESTAMP },
	{ "timestamptz", PCF_BIN_TIMESTAMPTZ },
	{ "bytea", PCF_BIN_BYTEA },   { "numeric", PCF_BIN_NUMERIC },
	{ "json", PCF_BIN_JSON },     { "jsonb", PCF_BIN_JSONB },
};

enum pcf_bin_type pcf_bin_type_of(const char *typname)
{
	for (size_t i = 0; i < sizeof(by_name) / sizeof(by_name[0]); i++)
		if (strcmp(typname, by_name[i].name) == 0)
			return by_name[i].type;
	return PCF_BIN_NONE;
}

static void put_be(unsigned char *out, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/*
 * int2in/int4in/int8in take spaces around the number and, from 16 on,
 * "_" between digits and 0x/0o/0b prefixes: only [+-]?[0-9]+ here, which
 * every version reads alike. Within [min, max] or not certain.
 */
static ssize_t to_int(const char *v, size_t len, int bytes, unsigned char *out)
{
	uint64_t limit = (uint64_t)1 << (bytes * 8 - 1); /* |min| */
	uint64_t mag = 0;
	size_t i = 0;
	int neg = 0;

	if (len && (v[0] == '-' || v[0] == '+')) {
		neg = v[0] == '-';
		i = 1;
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		unsigned d = (unsigned char)v[i] - '0';

		if (d > 9 || mag > (limit - d) / 10)
			return -1; /* not a digit, or past |min| */
		mag = mag * 10 + d;
	}
	if (!neg && mag == limit)
		return -1; /* max + 1 */
	put_be(out, neg ? (uint64_t)0 - mag : mag, bytes);
	return bytes;
}

/* [+-]?digits[.digits][e[+-]digits] with a digit somewhere before the
 * exponent: what strtod reads the same way the server's does. */
static int decimal_syntax(const char *v, size_t len)
{
	size_t i = 0, digits = 0;

	if (i < len && (v[i] == '-' || v[i] == '+'))
		i++;
	for (; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		digits++;
	if (i < len && v[i] == '.')
		for (i++; i < len && v[i] >= '0' && v[i] <= '9'; i++)
			digits++;
	if (!digits)
		return 0;
	if (i < len && (v[i] == 'e' || v[i] == 'E')) {
		size_t e0;

		i++;
		if (i < len && (v[i] == '-' || v[i] == '+'))
			i++;
		for (e0 = i; i < len && v[i] >= '0' && v[i] <= '9'; i++)
			;
		if (i == e0)
			return 0;
	}
	return i == len;
}

/* float8in/float4in: strtod/strtof, NaN and [+-]Infinity in any case; a
 * value out of range (ERANGE: too big, or too small to be kept whole) is
 * left to the server, which refuses the first and keeps subnormals. */
static ssize_t to_float(const char *v, size_t len, int bytes,
			unsigned char *out)
{
	char buf[400], *end;
	union {
		double d;
		float f;
		uint64_t u8;
		uint32_t u4;
	} x;

	double special = 0;
	int is_special = 1;

	if (len == 3 && strncasecmp(v, "nan", 3) == 0)
		special = NAN;
	else if ((len == 8 && strncasecmp(v, "infinity", 8) == 0) ||
		 (len == 9 && strncasecmp(v, "+infinity", 9) == 0))
		special = INFINITY;
	else if (len == 9 && strncasecmp(v, "-infinity", 9) == 0)
		special = -INFINITY;
	else
		is_special = 0;
	if (is_special) {
		/* exact in either width (a float NaN stays the quiet NaN) */
		if (bytes == 8)
			x.d = special;
		else
			x.f = (float)special;
	} else {
		if (len >= sizeof(buf) || !decimal_syntax(v, len))
			return -1;
		memcpy(buf, v, len);
		buf[len] = '\0';
		errno = 0;
		if (bytes == 8)
			x.d = strtod(buf, &end);
		else
			x.f = strtof(buf, &end);
		if (errno != 0 || end != buf + len)
			return -1;
	}
	put_be(out, bytes == 8 ? x.u8 : x.u4, bytes);
	return bytes;
}

/* boolin (parse_bool_with_len): t/true, y/yes, on, 1 and f/false, n/no,
 * off, 0 in any case, and the prefixes of the words ("tr", "ye"; "on" and
 * "of" need two letters); spaces around are left to the server. */
static ssize_t to_bool(const char *v, size_t len, unsigned char *out)
{
	int r = -1;

	if (len == 0)
		return -1;
	switch (v[0]) {
	case 't': case 'T':
		if (len <= 4 && strncasecmp(v, "true", len) == 0)
			r = 1;
		break;
	case 'f': case 'F':
		if (len <= 5 && strncasecmp(v, "false", len) == 0)
			r = 0;
		break;
	case 'y': case 'Y':
		if (len <= 3 && strncasecmp(v, "yes", len) == 0)
			r = 1;
		break;
	case 'n': case 'N':
		if (len <= 2 && strncasecmp(v, "no", len) == 0)
			r = 0;
		break;
	case 'o': case 'O':
		if (len == 2 && strncasecmp(v, "on", 2) == 0)
			r = 1;
		else if (len >= 2 && len <= 3 && strncasecmp(v, "off", len) == 0)
			r = 0;
		break;
	case '1':
		if (len == 1)
			r = 1;
		break;
	case '0':
		if (len == 1)
			r = 0;
		break;
	}
	if (r < 0)
		return -1;
	out[0] = (unsigned char)r;
	return 1;
}

/* uuid_in (string_to_uuid): 32 hex digits, a '-' allowed after each group
 * of four (but the last), the whole optionally in braces. */
static ssize_t to_uuid(const char *v, size_t len, unsigned char *out)
{
	size_t i = 0, end = len;

	if (len && v[0] == '{') {
		if (v[len - 1] != '}')
			return -1;
		i = 1;
		end = len - 1;
	}
	for (int b = 0; b < 16; b++) {
		int hi, lo;

		if (end - i < 2 || (hi = pcf_hex_value(v[i])) < 0 ||
		    (lo = pcf_hex_value(v[i + 1])) < 0)
			return -1;
		out[b] = (unsigned char)(hi << 4 | lo);
		i += 2;
		if (i < end && v[i] == '-' && b % 2 == 1 && b < 15)
			i++;
	}
	return i == end ? 16 : -1;
}

/* Valid UTF-8 as PostgreSQL's verifier takes it: no NUL, no overlong
 * form, no surrogate, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		/* Eight ASCII bytes at a time, none of them NUL. */
		if (len - i >= 8) {
			uint64_t x;

			memcpy(&x, s + i, 8);
			if (((x | ((x & 0x7f7f7f7f7f7f7f7full) +
				   0x7f7f7f7f7f7f7f7full)) &
			     0x8080808080808080ull) == 0x8080808080808080ull &&
			    (x & 0x8080808080808080ull) == 0) {
				i += 8;
				continue;
			}
		}
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* n decimal digits at v as a number, or -1. */
static long digits(const char *v, size_t n)
{
	long r = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		r = r * 10 + (v[i] - '0');
	}
	return r;
}

/* Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), for years 1 to 9999. */
static long days_from_civil(long y, long m, long d)
{
	y -= m <= 2;
	long era = y / 400, yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

#define DAYS_1970_TO_2000 10957L

/*
 * YYYY-MM-DD at v (10 bytes): days since 2000-01-01, PostgreSQL's epoch,
 * or 0 with *ok 0. Four-digit years 0001 to 9999 only: a year-first date
 * reads the same under every DateStyle, and none of them is BC.
 */
static long iso_date(const char *v, size_t len, int *ok)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	long y, m, d;

	*ok = 0;
	if (len < 10 || v[4] != '-' || v[7] != '-' ||
	    (y = digits(v, 4)) < 1 || (m = digits(v + 5, 2)) < 1 || m > 12 ||
	    (d = digits(v + 8, 2)) < 1)
		return 0;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (d > mdays[m - 1] + (m == 2 && leap))
		return 0;
	*ok = 1;
	return days_from_civil(y, m, d) - DAYS_1970_TO_2000;
}

/*
 * date [ T]HH:MM[:SS[.f{1,6}]] [offset]: microseconds since 2000-01-01
 * (local time, then minus the offset when one is given and wanted). 24:00
 * and leap seconds (60), fractions past microseconds (the server rounds)
 * and offsets other than +HH, +HH:MM, +HHMM go to the server.
 */
static ssize_t to_timestamp(const char *v, size_t len, int with_tz,
			    unsigned char *out)
{
	long hh, mi, ss = 0, frac = 0, off = 0;
	size_t i = 11;
	int ok, have_off = 0;
	long days = iso_date(v, len, &ok);

	if (!ok || len < 16 || (v[10] != ' ' && v[10] != 'T') ||
	    (hh = digits(v + 11, 2)) < 0 || hh > 23 || v[13] != ':' ||
	    (mi = digits(v + 14, 2)) < 0 || mi > 59)
		return -1;
	i = 16;
	if (i < len && v[i] == ':') {
		if (len - i < 3 || (ss = digits(v + i + 1, 2)) < 0 || ss > 59)
			return -1;
		i += 3;
		if (i < len && v[i] == '.') {
			size_t n = 0;

			for (i++; i < len && v[i] >= '0' && v[i] <= '9'; i++, n++)
				frac = frac * 10 + (v[i] - '0');
			if (n == 0 || n > 6)
				return -1;
			for (; n < 6; n++)
				frac *= 10;
		}
	}
	/* An offset: [+-]HH, [+-]HHMM, [+-]HH:MM, or Z (zulu, a built-in
	 * token: no timezone_abbreviations setting changes it). timestamp_in
	 * reads and ignores it; without one, timestamptz_in takes the
	 * session's TimeZone, which is not known here. */
	if (i + 1 == len && (v[i] == 'Z' || v[i] == 'z')) {
		i++;
		have_off = 1;
	} else if (i < len && (v[i] == '+' || v[i] == '-')) {
		long oh, om = 0;
		int sign = v[i] == '-' ? -1 : 1;

		if (len - i < 3 || (oh = digits(v + i + 1, 2)) < 0 || oh > 15)
			return -1;
		i += 3;
		if (i < len) {
			if (v[i] == ':')
				i++;
			if (len - i != 2 || (om = digits(v + i, 2)) < 0 || om > 59)
				return -1;
			i += 2;
		}
		off = sign * (oh * 3600 + om * 60);
		have_off = 1;
	}
	if (i != len || (with_tz && !have_off))
		return -1;
	if (!with_tz)
		off = 0;
	int64_t us = ((int64_t)days * 86400 + hh * 3600 + mi * 60 + ss - off) *
			     1000000 + frac;

	put_be(out, (uint64_t)us, 8);
	return 8;
}

/* byteain's hex form: \x, then pairs of hex digits (the server also skips
 * spaces between pairs; the escape form is left to it). */
static ssize_t to_bytea(const char *v, size_t len, unsigned char *out,
			size_t cap)
{
	size_t n = 0;

	if (len < 2 || v[0] != '\\' || v[1] != 'x' || len % 2 || (len - 2) / 2 > cap)
		return -1;
	for (size_t i = 2; i < len; i += 2) {
		int hi = pcf_hex_value(v[i]), lo = pcf_hex_value(v[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
	}
	return (ssize_t)n;
}

/*
 * numeric_in for [+-]?digits[.digits] (no exponent: its scale rules differ
 * across versions, nor Infinity, which 13 refuses), and NaN; numeric_send's
 * form: ndigits, weight, sign, dscale (int16 each), then the base-10000
 * digits without leading or trailing zero ones. The scale is the number of
 * digits written after the point. A typmod's rounding is the server's, for
 * binary input as for text.
 */
#define NUMERIC_MAX_DIGITS 1000 /* decimal digits taken here (the type: 147,455) */
static ssize_t to_numeric(const char *v, size_t len, unsigned char *out,
			  size_t cap)
{
	size_t i = 0, int0, intn, frac0, fracn;
	int neg = 0;

	if (len == 3 && strncasecmp(v, "nan", 3) == 0) {
		if (cap < 8)
			return -1;
		put_be(out, 0, 2);
		put_be(out + 2, 0, 2);
		put_be(out + 4, 0xC000, 2);
		put_be(out + 6, 0, 2);
		return 8;
	}
	if (i < len && (v[i] == '-' || v[i] == '+'))
		neg = v[i++] == '-';
	for (int0 = i; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		;
	intn = i - int0;
	frac0 = fracn = 0;
	if (i < len && v[i] == '.') {
		for (frac0 = ++i; i < len && v[i] >= '0' && v[i] <= '9'; i++)
			;
		fracn = i - frac0;
	}
	if (i != len || intn + fracn == 0 || intn + fracn > NUMERIC_MAX_DIGITS)
		return -1;
	/* Base-10000 groups, aligned on the point: the integer part's first
	 * group may be short, the fraction's last is padded with zeros. */
	int ngint = (int)((intn + 3) / 4), ngfrac = (int)((fracn + 3) / 4);
	int ng = ngint + ngfrac, first = 0, last = ng - 1;
	uint16_t g[(NUMERIC_MAX_DIGITS + 7) / 4 + 2];

	for (int k = 0; k < ngint; k++) {
		/* group k covers integer digits [intn - 4 * (ngint - k), +4) */
		long start = (long)intn - 4L * (ngint - k), val = 0;

		for (long d = start; d < start + 4; d++)
			val = val * 10 + (d >= 0 ? v[int0 + d] - '0' : 0);
		g[k] = (uint16_t)val;
	}
	for (int k = 0; k < ngfrac; k++) {
		long val = 0;

		for (size_t d = 4 * (size_t)k; d < 4 * (size_t)k + 4; d++)
			val = val * 10 + (d < fracn ? v[frac0 + d] - '0' : 0);
		g[ngint + k] = (uint16_t)val;
	}
	while (first <= last && g[first] == 0)
		first++;
	while (last >= first && g[last] == 0)
		last--;
	int nd = last >= first ? last - first + 1 : 0;
	int weight = nd ? ngint - 1 - first : 0;

	if (cap < 8 + 2 * (size_t)nd || fracn > 0x3fff)
		return -1;
	put_be(out, (uint64_t)nd, 2);
	put_be(out + 2, (uint64_t)(uint16_t)(int16_t)weight, 2);
	put_be(out + 4, nd && neg ? 0x4000 : 0, 2);
	put_be(out + 6, fracn, 2);
	for (int k = 0; k < nd; k++)
		put_be(out + 8 + 2 * k, g[first + k], 2);
	return 8 + 2 * nd;
}

ssize_t pcf_bin_convert(enum pcf_bin_type t, const char *v, size_t len,
			unsigned char *out, size_t cap)
{
	if (t != PCF_BIN_TEXT && t != PCF_BIN_BYTEA && t != PCF_BIN_NUMERIC &&
	    t != PCF_BIN_JSON && t != PCF_BIN_JSONB && cap < PCF_BIN_FIXED_MAX)
		return -1;
	switch (t) {
	case PCF_BIN_INT2:
		return to_int(v, len, 2, out);
	case PCF_BIN_INT4:
		return to_int(v, len, 4, out);
	case PCF_BIN_INT8:
		return to_int(v, len, 8, out);
	case PCF_BIN_FLOAT4:
		return to_float(v, len, 4, out);
	case PCF_BIN_FLOAT8:
		return to_float(v, len, 8, out);
	case PCF_BIN_BOOL:
		return to_bool(v, len, out);
	case PCF_BIN_UUID:
		return to_uuid(v, len, out);
	case PCF_BIN_TEXT:
	case PCF_BIN_JSON:
		if (cap < len || !utf8_valid((const unsigned char *)v, len))
			return -1;
		memcpy(out, v, len);
		return (ssize_t)len;
	case PCF_BIN_JSONB:
		/* The text is parsed by the server either way: a value it
		 * refuses fails the load as in CSV (the context then names the
		 * line and column, not the value). */
		if (cap < len + 1 || !utf8_valid((const unsigned char *)v, len))
			return -1;
		out[0] = 1;
		memcpy(out + 1, v, len);
		return (ssize_t)len + 1;
	case PCF_BIN_DATE: {
		int ok;
		long days = iso_date(v, len, &ok);

		if (!ok || len != 10)
			return -1;
		put_be(out, (uint64_t)(uint32_t)(int32_t)days, 4);
		return 4;
	}
	case PCF_BIN_TIMESTAMP:
		return to_timestamp(v, len, 0, out);
	case PCF_BIN_TIMESTAMPTZ:
		return to_timestamp(v, len, 1, out);
	case PCF_BIN_BYTEA:
		return to_bytea(v, len, out, cap);
	case PCF_BIN_NUMERIC:
		return to_numeric(v, len, out, cap);
	case PCF_BIN_NONE:
		break;
	}
	return -1;
}
