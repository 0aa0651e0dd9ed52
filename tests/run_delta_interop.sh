#!/usr/bin/env bash
# run_delta_interop.sh - DuckDB reads what Tributary writes.
#
# Runs test_parquet_write and test_delta with TB_INTEROP_DIR set (they leave Parquet
# files, Delta tables and CSVs of the values they wrote there), then has DuckDB
# (npm @duckdb/node-api, installed into $TB_BUILD/node_modules when absent) check them:
# tests/interop/check_parquet.mjs and check_delta.mjs. If npm cannot install DuckDB the
# check is skipped LOUDLY (exit 77, reported by CTest as skipped), never passed.
set -euo pipefail

SRC=${TB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${TB_BUILD:-$SRC/build}
NM=$BUILD/node_modules

for t in test_parquet_write test_delta; do
  if [ ! -x "$BUILD/$t" ]; then
    echo "FAIL: $BUILD/$t is not built" >&2
    exit 1
  fi
done

export TB_SRCDIR=$SRC TB_BUILD=$BUILD
. "$SRC/tests/interop/need_duckdb.sh"
need_duckdb || exit 77  # SKIP (CTest SKIP_RETURN_CODE): the oracle is missing

DIR=$(mktemp -d "${TMPDIR:-/tmp}/tb_interop.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

run() {
  if ! TB_INTEROP_DIR=$DIR "$BUILD/$1" >"$DIR/$1.log" 2>&1; then
    echo "FAIL: $1 failed:" >&2
    tail -40 "$DIR/$1.log" >&2
    exit 1
  fi
}
run test_parquet_write
# only the tests that leave tables for DuckDB (the others run in their own CTest entry)
export TB_TEST_FILTER=test_writer_partitioned,test_writer_checkpoints
run test_delta
unset TB_TEST_FILTER

export TB_NODE_MODULES=$NM
node "$SRC/tests/interop/check_parquet.mjs" "$DIR"
node "$SRC/tests/interop/check_delta.mjs" "$DIR"
echo "PASS: DuckDB agrees with Tributary's Parquet and Delta output"
