#!/usr/bin/python3
"""The Python ways of loading a CSV file into PostgreSQL, for tests/bench/run.sh,
with Debian's python3-sqlalchemy (1.4) and python3-psycopg2.

    pymethods.py METHOD TABLE FILE   loads FILE (a CSV with a header line) into
                                     TABLE, commits once, prints the seconds
    pymethods.py report RESULTS      prints the benchmark's table

Every method is timed the same way as the shell ones: from the file on disk
to committed rows. Interpreter start, imports and reflecting the table are
left out: an application has those done before it loads anything. The
connection comes from the PG* variables, as psql's and pgcopyfs's does.
"""
import csv
import datetime
import decimal
import io
import json
import statistics
import sys
import time


# How an application holds the wide table's values: typed Python objects,
# which is what an ORM or Core statement is handed (SQLAlchemy's Boolean
# refuses 't', its JSONB serializes a dict). posts' message stays a str.
# uid stays a str: psycopg2 adapts uuid.UUID only after register_uuid().
CONVERT = {
    "id": int,
    "big": int,
    "ts": datetime.datetime.fromisoformat,
    "amount": decimal.Decimal,
    "flag": lambda s: s == "t",
    "score": float,
    "day": datetime.date.fromisoformat,
    "doc": json.loads,
}


def read_dicts(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        conv = [CONVERT.get(c, str) for c in header]
        return [{c: fn(v) for c, fn, v in zip(header, conv, row)} for row in reader]


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def orm_add(engine, cls, table, path):
    """The per-row ORM way: session.add() per row, one commit at the end."""
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        for d in read_dicts(path):
            session.add(cls(**d))
        session.commit()


def bulk_mappings(engine, cls, table, path):
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        session.bulk_insert_mappings(cls, read_dicts(path))
        session.commit()


def core_values(engine, cls, table, path):
    """One multi-row INSERT ... VALUES (...), (...) per 5000 rows."""
    with engine.begin() as conn:
        for chunk in chunks(read_dicts(path), 5000):
            conn.execute(table.insert().values(chunk))


def core_executemany(engine, cls, table, path):
    """conn.execute(insert, list) per 100k rows: an executemany, which 1.4's
    psycopg2 dialect turns into execute_values() pages of 1000 rows."""
    with engine.begin() as conn:
        for chunk in chunks(read_dicts(path), 100_000):
            conn.execute(table.insert(), chunk)


def copy_from(engine, cls, table, path):
    """cursor.copy_from() of a StringIO holding the whole data in COPY's text
    format (tab-separated; the benchmark's data holds no tab, backslash or
    newline, which this format would need escaped)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        buf = io.StringIO()
        for row in reader:
            buf.write("\t".join(row))
            buf.write("\n")
    buf.seek(0)
    conn = engine.raw_connection()
    try:
        conn.cursor().copy_from(buf, table.name, columns=header)
        conn.commit()
    finally:
        conn.close()


def copy_expert(engine, cls, table, path):
    """cursor.copy_expert('COPY ... FROM STDIN WITH CSV HEADER', file)."""
    with open(path) as f:
        cols = f.readline().strip()
        f.seek(0)
        conn = engine.raw_connection()
        try:
            conn.cursor().copy_expert(
                f"COPY {table.name} ({cols}) FROM STDIN WITH CSV HEADER", f)
            conn.commit()
        finally:
            conn.close()


METHODS = {f.__name__: f for f in (orm_add, bulk_mappings, core_values,
                                   core_executemany, copy_from, copy_expert)}


def load(method, name, path):
    from sqlalchemy import create_engine
    from sqlalchemy.ext.automap import automap_base

    engine = create_engine("postgresql+psycopg2://")  # PG* variables
    base = automap_base()
    base.prepare(autoload_with=engine, reflection_options={"only": [name]})
    cls = base.classes[name]
    engine.dispose()  # connecting is part of the load, as it is for psql
    start = time.perf_counter()
    METHODS[method](engine, cls, cls.__table__, path)
    print(f"{time.perf_counter() - start:.3f}")


# The table. RESULTS has one line per run, tab-separated:
#   workload method rows seconds bytes client_kb daemon_kb daemon_cpu_s
# with "-" for the daemon's columns when pgcopyfs took no part. Rows of the
# table come in the order of first runs, the anchor ("psql \copy") first.
ANCHOR = "psql \\copy"


def report(path):
    runs = {}
    with open(path) as f:
        for line in f:
            w, m, rows, secs, nbytes, ckb, dkb, dcpu, ccpu = \
                line.rstrip("\n").split("\t")
            runs.setdefault((w, m), []).append(
                (int(rows), float(secs), int(nbytes) if nbytes != "-" else None,
                 int(ckb), dkb, dcpu, float(ccpu)))

    def med(xs):
        return statistics.median(xs)

    head = ("workload", "method", "rows", "runs", "s(med)", "rows/s", "MB/s",
            "x psql", "daemon RSS MB", "client RSS MB", "daemon CPU s",
            "daemon CPU %", "client CPU s")
    out = [head]
    anchor = {w: rs[0][0] / med([r[1] for r in rs])
              for (w, m), rs in runs.items() if m == ANCHOR}
    order = list(dict.fromkeys(w for w, m in runs))  # workloads, as first run
    for (w, m), rs in sorted(runs.items(),
                             key=lambda kv: (order.index(kv[0][0]), kv[0][1] != ANCHOR)):
        rows = rs[0][0]
        secs = med([r[1] for r in rs])
        rate = rows / secs
        # Reads out of a table: no input file, no MB/s.
        mbs = f"{rs[0][2] / secs / 1e6:.1f}" if rs[0][2] is not None else "-"
        ratio = f"{rate / anchor[w]:.2f}" if w in anchor else "-"
        client = max(r[3] for r in rs) / 1024
        if rs[0][4] == "-":
            dmem = dcpu = dpct = "-"
        else:
            # Peak of each run's fresh daemon; CPU and its share of the
            # wall time as medians of the runs'.
            dmem = f"{max(int(r[4]) for r in rs) / 1024:.1f}"
            dcpu = f"{med([float(r[5]) for r in rs]):.2f}"
            dpct = f"{med([100 * float(r[5]) / r[1] for r in rs]):.1f}"
        out.append((w, m, str(rows), str(len(rs)), f"{secs:.2f}",
                    f"{rate:,.0f}", mbs, ratio, dmem,
                    f"{client:.1f}", dcpu, dpct,
                    f"{med([r[6] for r in rs]):.2f}"))
    widths = [max(len(r[i]) for r in out) for i in range(len(head))]
    for i, r in enumerate(out):
        print("  ".join(c.ljust(wd) if j < 2 else c.rjust(wd)
                        for j, (c, wd) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * wd for wd in widths))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] in METHODS:
        load(*sys.argv[1:])
    else:
        sys.exit(__doc__)
