#!/usr/bin/env bash
# big_parquet.sh [ROWS] - the > 1 GB case of issue 3 point 2, run by hand (not by
# `make test`: it takes minutes and GBs of disk):
#   tributary COPY writes ROWS rows (default 20,000,000: about 1.2 GB of values) of the
#   formulas of tests/lib_write_gen.sh to one Parquet file with ROW_GROUP_SIZE 100000;
#   then tests/interop/check_big.mjs has DuckDB (npm @duckdb/node-api) compute aggregates
#   of every column from the formulas (range(ROWS)) and from the file, and compares both
#   with the same aggregates computed by tributary reading the file.
# Use a release build: TB_BIN=build/release/tributary (default), TB_BUILD for node_modules.
# `make test` runs the same check at 200,000 rows (tests/run_write.sh).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TB_BIN:-$SRC/build/release/tributary}
BUILD=${TB_BUILD:-$SRC/build}
ROWS=${1:-20000000}
DIR=${TB_BIG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/tb_big.XXXXXX")}
trap 'rm -rf "$DIR"' EXIT
source "$SRC/tests/lib_write_gen.sh"
if [ ! -d "$BUILD/node_modules/@duckdb/node-api" ]; then
  npm install --no-audit --no-fund --prefix "$BUILD" @duckdb/node-api >/dev/null 2>&1 ||
    { echo "FAIL: cannot install @duckdb/node-api into $BUILD" >&2; exit 1; }
fi
export TB_NODE_MODULES=$BUILD/node_modules
cd "$DIR"
t0=$(date +%s.%N)
# (the SQL is long: it goes through stdin, not argv)
echo "COPY ($(gen_sql "$ROWS")) TO 'big.parquet' (FORMAT parquet, ROW_GROUP_SIZE 100000)" > copy.sql
/usr/bin/time -f '%e s, max RSS %M KB' -o copy.time "$BIN" query - < copy.sql
echo "COPY: $(cat copy.time); file $(stat -c %s big.parquet) bytes"
/usr/bin/time -f '%e s, max RSS %M KB' -o read.time \
  "$BIN" query --format csv "$(agg_sql "read_parquet('big.parquet')")" > ours.csv
echo "tributary reads it back: $(cat read.time)"
t1=$(date +%s.%N)
node "$SRC/tests/interop/check_big.mjs" big.parquet "$ROWS" ours.csv
t2=$(date +%s.%N)
printf 'DuckDB (formulas + file): %.1f s; total %.1f s\n' "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)"
