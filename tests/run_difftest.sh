#!/usr/bin/env bash
# Differential test against a real PostgreSQL 15 (issue 13 point 4): random schemas,
# rows and queries (tests/difftest/difftest.py) run on both; every answer must agree.
# make test runs a fixed seed and a bounded count (TB_DIFF_SEED, TB_DIFF_ROUNDS,
# TB_DIFF_QUERIES override it; longer runs by hand, see README "Differential testing").
# No PostgreSQL server or no psycopg2: SKIP (exit 77), never a pass.
# Env: TB_BIN, TB_SRCDIR.
set -uo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
/usr/bin/python3 -c 'import psycopg2' 2> /dev/null ||
  { echo "SKIP: python3-psycopg2 missing (apt-get install python3-psycopg2)"; exit 77; }
. "$SRC/tests/lib_pg.sh"
pg_start || exit 1
/usr/bin/python3 "$SRC/tests/difftest/difftest.py" --tributary "$BIN" --dsn "$PG_DSN" \
  --seed "${TB_DIFF_SEED:-13}" --rounds "${TB_DIFF_ROUNDS:-10}" \
  --queries "${TB_DIFF_QUERIES:-60}" --features "${TB_DIFF_FEATURES:-expr,join,agg,subquery,setop,distinct,window,grouping,distinct_on,series,aggx,fmt,recursive}" \
  --quiet-unsupported
