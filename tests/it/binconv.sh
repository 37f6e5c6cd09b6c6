#!/usr/bin/env bash
# The binary converters (fs/binconv.c) against the server's own input and
# send functions: for every value of a generated corpus, where the
# converter answers, SELECT typsend(CAST(value AS type)) on a real server
# gives the same bytes, byte for byte; where the server refuses a value,
# the converter never answers. The corpus holds each type's edge cases
# (bounds and one past them, signs, spaces, leading zeros, PostgreSQL 16's
# separators and prefixes, NaN and infinities, subnormals, 1e308, every
# bool spelling and prefix, uuids in every case, hyphenation and braces,
# UTF-8 good and bad, dates that do not exist, 24:00, leap seconds, DST
# gaps, offsets and their absence, bytea's hex and escape forms) and
# thousands of random canonical values, which the converter must all take
# (else it would only ever fall back), under three TimeZone and DateStyle
# settings.
. "$(dirname "$0")/../lib.sh"
pcf_setup
CLI=${PCF_BINCONV_CLI:-$(dirname "$PGCOPYFS_BIN")/tests/unit/binconv_cli}
[ -x "$CLI" ] || { echo "binconv.sh: no binconv_cli at $CLI" >&2; exit 1; }

q "CREATE TABLE inputs (id int PRIMARY KEY, typ text, vhex text, canonical bool);
   CREATE FUNCTION pcf_send(typ text, vhex text) RETURNS text LANGUAGE plpgsql AS \$\$
   DECLARE r bytea;
   BEGIN
     EXECUTE format('SELECT %s(CAST(convert_from(decode(\$1, ''hex''), ''UTF8'') AS %s))',
                    (SELECT typsend FROM pg_type WHERE typname = typ), typ)
       INTO r USING vhex;
     RETURN encode(r, 'hex');
   EXCEPTION WHEN others THEN RETURN '-';
   END \$\$"

# corpus SEED: id, type, the value's bytes in hex, canonical (must convert)
corpus() {
	python3 - "$1" <<-'PY'
	import random, struct, sys, uuid
	rnd = random.Random(int(sys.argv[1]))
	rows = []
	def add(t, v, canon=False):
	    if isinstance(v, str):
	        v = v.encode()
	    rows.append((t, v.hex(), "t" if canon else "f"))
	for t, bits in (("int2", 16), ("int4", 32), ("int8", 64)):
	    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
	    for v in (lo, hi, 0, 1, -1):
	        add(t, str(v), True)
	    for v in (lo - 1, hi + 1, 10 ** 30):
	        add(t, str(v))
	    for s in ("+5", "-0", "007", "-007", " 5", "5 ", "1_000", "0x1F", "0o17", "0b101",
	              "1.0", "1e3", "", "-", "+", "--1", "\u0661", "５", "12a"):
	        add(t, s)
	    for _ in range(1500):
	        add(t, str(rnd.randint(lo, hi)), True)
	for t in ("float8", "float4"):
	    for s in ("0", "-0", "1.5", ".5", "5.", "1e308", "1e309", "-1e308", "1e-400", "4.9e-324",
	              "2.2250738585072014e-308", "1.17549435e-38", "3.4028235e38", "3.5e38",
	              "NaN", "nan", "NAN", "-nan", "Infinity", "infinity", "+Infinity", "-Infinity",
	              "inf", "-inf", "+inf", " 1", "1 ", "1,5", "0x1p3", "1e", "e1", ".", "",
	              "1e+", "00012.500", "+.5e-3", "123456789012345678901234567890"):
	        add(t, s)
	    for _ in range(1500):
	        x = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
	        if x != x or abs(x) == float("inf") or (x != 0 and abs(x) < 2.3e-308):
	            continue
	        if t == "float4" and abs(x) > 3e38:
	            x = x / 1e300
	        if t == "float4" and x != 0 and abs(x) < 1.2e-38:
	            continue
	        add(t, rnd.choice(("%.17g", "%.6e", "%.3f", "%r")) % x
	            if rnd.random() < 0.9 else "%d" % rnd.randint(-10**6, 10**6), True)
	words = ["t", "tr", "tru", "true", "f", "fa", "fal", "fals", "false", "y", "ye", "yes",
	         "n", "no", "on", "of", "off", "1", "0"]
	for w in words:
	    for v in (w, w.upper(), w.capitalize()):
	        add("bool", v, True)
	for s in ("o", "truee", "yess", "offf", "2", "10", "00", " t", "t ", "", "nope", "ON ", "yes!"):
	    add("bool", s)
	for _ in range(1500):
	    u = uuid.UUID(int=rnd.getrandbits(128))
	    form = rnd.randrange(6)
	    s = [str(u), str(u).upper(), "{%s}" % u, u.hex, "{%s}" % u.hex.upper(),
	         "-".join(u.hex[i:i + 4] for i in range(0, 32, 4))][form]
	    add("uuid", s, True)
	u = str(uuid.UUID(int=rnd.getrandbits(128)))
	for s in (u[:-1], u + "1", u + "-", u[:5] + "-" + u[5:], "{" + u, u + "}", "g" + u[1:],
	          u.replace("-", "--", 1), " " + u, u + " ", "", "{}"):
	    add("uuid", s)
	for _ in range(1500):
	    n = rnd.randrange(0, 40)
	    s = "".join(chr(rnd.choice((rnd.randrange(32, 127), rnd.randrange(0xa0, 0x800),
	                                 rnd.randrange(0x800, 0xd800), rnd.randrange(0x10000, 0x110000))))
	                for _ in range(n))
	    add(rnd.choice(("text", "varchar", "bpchar")), s, True)
	import datetime
	def rdate():
	    return datetime.date(1, 1, 1) + datetime.timedelta(days=rnd.randrange(0, 3652059))
	for _ in range(800):
	    add("date", rdate().isoformat(), True)
	for s in ("2000-02-29", "1900-02-29", "2001-02-29", "2000-13-01", "2000-00-01", "2000-01-32",
	          "0000-01-01", "9999-12-31", "01/02/2003", "02/01/2003", "2003-1-2", "20030102",
	          "infinity", "-infinity", "epoch", "today", "2000-01-01 BC", " 2000-01-01",
	          "2000-01-01 ", "12000-01-01", "Jan 1 2000"):
	    add("date", s, s in ("2000-02-29", "9999-12-31"))
	for _ in range(800):
	    d = rdate()
	    t = "%s%s%02d:%02d" % (d.isoformat(), rnd.choice(" T"), rnd.randrange(24), rnd.randrange(60))
	    if rnd.random() < 0.8:
	        t += ":%02d" % rnd.randrange(60)
	        if rnd.random() < 0.5:
	            t += "." + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 6)))
	    add("timestamp", t, True)
	    off = rnd.choice(("+%02d", "-%02d", "+%02d:%02d", "-%02d%02d"))
	    off = off % ((rnd.randrange(15),) if off.count("%") == 1 else (rnd.randrange(15), rnd.randrange(60)))
	    if d.year > 1 and d.year < 9999:
	        add("timestamptz", t + off, True)
	for s in ("2000-01-01", "2000-01-01 24:00:00", "2000-01-01 23:59:60", "2000-01-01 00:00:00.1234567",
	          "2000-01-01 00:00:00+02", "2000-01-01 00:00:00Z", "2000-01-01 00:00:00-05:30",
	          "2000-01-01 00:00:00z", "2000-01-01T10:00:00+0530", "2000-01-01 00:00:00+16",
	          "2000-01-01 00:00:00.", "2000-01-01 0:00:00",
	          "2000-01-01 00:00:00 PST", "2000-01-01 allballs", "infinity", "2000-03-26 02:30:00"):
	    add("timestamp", s)
	for s in ("2000-01-01 00:00:00", "2000-01-01 00:00:00 UTC", "2000-01-01 00:00:00Z",
	          "2000-01-01T00:00:00z", "2024-06-30 23:59:59.999999Z", "2000-01-01 00:00:00 Z",
	          "2000-01-01 00:00:00+2", "2000-01-01 00:00:00+02:00:00", "2000-01-01 00:00:00+16",
	          "2021-03-28 02:30:00", "2021-10-31 02:30:00+01", "2021-10-31 02:30:00+02",
	          "2000-01-01 00:00:00+14", "2000-01-01 00:00:00-15:59"):
	    add("timestamptz", s)
	for _ in range(500):
	    b = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 50)))
	    h = b.hex()
	    add("bytea", "\\x" + (h.upper() if rnd.random() < 0.3 else h), True)
	for s in ("\\x1", "\\xzz", "\\x12 34", "abc", "\\X12", "\\000", "a\\\\b", ""):
	    add("bytea", s)
	for _ in range(1500):
	    ip = str(rnd.randrange(10 ** rnd.randrange(1, 30)))
	    if rnd.random() < 0.2:
	        ip = "0" * rnd.randrange(1, 5) + ip
	    s = rnd.choice(("", "-", "+")) + ip
	    if rnd.random() < 0.7:
	        s += "." + "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(0, 25)))
	    add("numeric", s, True)
	for s in ("0", "-0", "-0.000", "0.0001", "10000", "9999.9999", "1" + "0" * 400, "0." + "0" * 300 + "1",
	          ".5", "5.", "NaN", "nan", "NAN", "Infinity", "-Infinity", "inf", "1e5", "1E-3",
	          " 1", "1 ", "1,5", "1_000", "0x10", "", ".", "-", "+.", "--1"):
	    add("numeric", s, s in ("0", "-0", "-0.000", "0.0001", "10000", "9999.9999", ".5", "5.", "NaN", "nan", "NAN"))
	for b in (b"\xc3", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
	          b"\xe9t\xe9", b"a\x00b", b"\xff", b"\xf0\x9f\x98"):
	    rows.append(("text", b.hex(), "f"))
	for i, (t, h, c) in enumerate(rows, 1):
	    print("%d\t%s\t%s\t%s" % (i, t, h, c))
	PY
}

test_converters_agree_with_the_server() {
	local seed
	for seed in 1 2; do
		corpus "$seed" >"$W/corpus.tsv"
		q "TRUNCATE inputs"
		psql -Xq -v ON_ERROR_STOP=1 -c "\\copy inputs FROM '$W/corpus.tsv'" ||
			{ fail "loading the corpus"; return; }
		cut -f1-3 "$W/corpus.tsv" | "$CLI" >"$W/ours.tsv"
		# Under several sessions' settings: none of them may change what
		# a converted value means.
		for settings in "TimeZone=UTC DateStyle=ISO,MDY" \
			"TimeZone=America/New_York DateStyle=SQL,DMY" \
			"TimeZone=Asia/Kolkata DateStyle=German"; do
		PGOPTIONS="-c client_min_messages=warning -c ${settings// / -c }" \
			psql -XAtq -F $'\t' -c "SELECT id, pcf_send(typ, vhex) FROM inputs ORDER BY id" >"$W/server.tsv"
		paste "$W/corpus.tsv" "$W/server.tsv" "$W/ours.tsv" | awk -F'\t' '
		$1 != $5 || $1 != $7 { print "misaligned at " $1; bad++; next }
		$8 != "-" && $8 != $6 { print "type " $2 " value " $3 ": ours " $8 ", the server " $6; bad++ }
		$4 == "t" && $8 == "-" { print "type " $2 " value " $3 ": canonical, not converted (server " $6 ")"; bad++ }
		$8 != "-" { took++ } $8 == "-" && $6 != "-" { left++ }
		END { printf "%d converted, %d left to the server, %d problems\n", took, left, bad + 0; exit bad > 0 }' \
			>"$W/diff.out"
		expect_eq "$?" 0 "seed $seed, $settings: $(head -n 5 "$W/diff.out" | tr '\n' ';')"
		pcf_log "  (seed $seed, $settings: $(tail -n 1 "$W/diff.out"))"
		done
	done
}

pcf_run_tests
