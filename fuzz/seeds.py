#!/usr/bin/env python3
"""fuzz/seeds.py OUT TESTDATA - seed inputs for the fuzz targets from the repository's
tests and the shared test data (../shared/testdata), written to OUT/<target>/ (read by
fuzz/run.sh next to the committed corpus fuzz/corpus/<target>; nothing here is
committed: the shared test data must not be copied into the repository).

  sql         scripts (;-separated statements) cut from tests/sql/*.slt and SQLite's
              sqllogictest files: each query with the statements before it, up to 4 KB;
              file paths rewritten to the plain names fuzz_sql's working directory has
  csv         CSV files of tests/ and the *_expect.csv files of parquet-testing
  delta_log   every _delta_log/*.json commit of delta-golden
  delta_ckpt  every checkpoint Parquet file of delta-golden
"""
import hashlib
import os
import re
import sys

MAX_SQL = 4000


def put(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def slt_records(path):
    """(kind, sql) of each statement/query record of a sqllogictest file."""
    recs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        head = line.split()
        if head and head[0] in ("statement", "query"):
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() != "" and lines[i] != "----":
                body.append(lines[i])
                i += 1
            if head[0] == "query":
                while i < len(lines) and lines[i].strip() != "":
                    i += 1
            recs.append((head[0], "\n".join(body)))
        i += 1
    return recs


def fix_paths(sql):
    sql = re.sub(r"'\$\{TB_TESTDATA\}/parquet-testing/alltypes_plain\.parquet'",
                 "'alltypes_plain.parquet'", sql)
    sql = re.sub(r"'[^']*delta-golden/[^']*'", "'delta'", sql)
    return sql.replace("tests/sql/data/", "")


def sql_seeds(out, path, limit):
    setup = []
    n = 0
    for kind, sql in slt_records(path):
        sql = fix_paths(sql)
        if kind == "statement" and re.match(r"\s*(CREATE|INSERT|DROP|SET)", sql, re.I):
            setup.append(sql)
        elif n < limit:
            script = ";\n".join(setup + [sql])
            while len(script) > MAX_SQL and setup:
                setup = setup[1:]
                script = ";\n".join(setup + [sql])
            if len(script) <= MAX_SQL:
                put(out, "sql", script.encode())
                n += 1
        if kind == "statement" and n < limit:
            put(out, "sql", sql.encode()[:MAX_SQL])
            n += 1


def main():
    out, td = sys.argv[1], sys.argv[2]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for f in sorted(os.listdir(os.path.join(repo, "tests/sql"))):
        if f.endswith(".slt"):
            sql_seeds(out, os.path.join(repo, "tests/sql", f), 10000)
    slt = os.path.join(td, "sqllogictest")
    for root, _, files in os.walk(slt):
        for f in sorted(files):
            if f.endswith(".test"):
                sql_seeds(out, os.path.join(root, f), 150)
    for root, _, files in os.walk(repo + "/tests"):
        for f in files:
            if f.endswith(".csv") and os.path.getsize(os.path.join(root, f)) < 65536:
                put(out, "csv", open(os.path.join(root, f), "rb").read())
    pt = os.path.join(td, "parquet-testing")
    if os.path.isdir(pt):
        for f in sorted(os.listdir(pt)):
            if f.endswith("_expect.csv"):
                put(out, "csv", open(os.path.join(pt, f), "rb").read()[:65536])
    for root, _, files in os.walk(os.path.join(td, "delta-golden")):
        for f in files:
            p = os.path.join(root, f)
            if root.endswith("_delta_log") and f.endswith(".json"):
                put(out, "delta_log", open(p, "rb").read())
            if root.endswith("_delta_log") and ".checkpoint." in f and f.endswith(".parquet"):
                put(out, "delta_ckpt", open(p, "rb").read())


if __name__ == "__main__":
    main()
