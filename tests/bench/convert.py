#!/usr/bin/env python3
"""The benchmark's CSV file as the other formats pgcopyfs reads, the same
rows: COPY's text format (.tsv) and JSON lines (.jsonl, typed: numbers and
booleans as JSON's, the jsonb column as a nested object).

    convert.py FILE.csv OUT.tsv OUT.jsonl
"""
import csv
import json
import sys

NUMERIC = {"id", "big", "amount", "score"}
BOOLEAN = {"flag"}
NESTED = {"doc"}


def text_escape(v):
    return (v.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def main():
    src, tsv, jsonl = sys.argv[1:4]
    with open(src, newline="") as f, open(tsv, "w") as t, open(jsonl, "w") as j:
        r = csv.reader(f)
        header = next(r)
        t.write("\t".join(header) + "\n")
        for row in r:
            t.write("\t".join(text_escape(v) for v in row) + "\n")
            parts = []
            for k, v in zip(header, row):
                if k in NUMERIC:
                    val = v  # the number as written
                elif k in BOOLEAN:
                    val = "true" if v == "t" else "false"
                elif k in NESTED:
                    val = json.dumps(json.loads(v), separators=(",", ":"))
                else:
                    val = json.dumps(v, ensure_ascii=False)
                parts.append('"%s":%s' % (k, val))
            j.write("{" + ",".join(parts) + "}\n")


main()
