#!/usr/bin/awk -f
# Writes the wide table's CSV to stdout: a header naming the ten columns,
# then rows 1..n (awk -v n=ROWS -f gen_wide.awk), about 200 bytes each, one
# column of each common type. Deterministic: the same n gives the same bytes.
# awk rather than Python because it writes them several times faster. Values
# printed with %d or %x stay below 2^31, where mawk's integers are exact;
# the bigint goes through %.0f.
BEGIN {
	print "id,big,name,ts,amount,flag,uid,score,day,doc"
	for (i = 1; i <= n; i++) {
		m = i % 12 + 1; d = i % 28 + 1
		printf "%d,%.0f,user %d lorem ipsum dolor sit amet consectetur,", \
			i, i * 1000003, i
		printf "2024-%02d-%02d %02d:%02d:%02d+00,%d.%02d,%s,", \
			m, d, i % 24, i % 60, (i * 7) % 60, i % 100000, i % 100, \
			(i % 2 ? "t" : "f")
		printf "%08x-%04x-4%03x-8%03x-%012x,%.6f,2023-%02d-%02d,", \
			i, i % 65536, i % 4096, (i * 3) % 4096, i * 7, (i % 1000) / 7, m, d
		printf "\"{\"\"k\"\": %d, \"\"tags\"\": [\"\"a\"\", \"\"b\"\"], \"\"ok\"\": true}\"\n", i
	}
}
