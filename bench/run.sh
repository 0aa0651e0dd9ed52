#!/usr/bin/env bash
# make bench: Tributary against DuckDB on the same data, in the same run, REPEAT runs
# each, medians and ratios, printed as markdown (bench/README.md keeps the latest table).
# Data is generated deterministically with `tributary generate` and cached in bench/data
# (gitignored): ROWS sales rows in FILES CSV files (default 10 million in 100), the same
# rows in one Parquet file (written by DuckDB), 1,000 products in Parquet, and
# SMALL_FILES 1,000-row CSV files for the streaming runs. DuckDB comes from npm
# (@duckdb/node-api, version pinned by package-lock.json), installed into
# bench/node_modules when missing. The driver is bench.mjs.
#
# Small run while developing: ROWS=1000000 FILES=10 REPEAT=1 SMALL_FILES=1000 RSS_FILES=0
set -euo pipefail
cd "$(dirname "$0")"
BIN=$(realpath "${TB_BIN:-../build/release/tributary}")
export TB_BIN=$BIN ROWS=${ROWS:-10000000} FILES=${FILES:-100} REPEAT=${REPEAT:-3}
export SMALL_FILES=${SMALL_FILES:-10000} RSS_FILES=${RSS_FILES:-10000} D=data
[ "$RSS_FILES" -le "$SMALL_FILES" ] || { echo "run.sh: RSS_FILES > SMALL_FILES" >&2; exit 2; }
[ "$SMALL_FILES" -ge 501 ] || { echo "run.sh: SMALL_FILES must be at least 501" >&2; exit 2; }
[ -x "$BIN" ] || { echo "run.sh: no binary at $BIN (make bench builds it)" >&2; exit 1; }
command -v node > /dev/null || { echo "run.sh: node is missing (make deps installs it)" >&2; exit 1; }
# PARTS=pg: only the PostgreSQL sink against psql (pg.sh, issue 12)
if [ "${PARTS:-}" = pg ]; then exec bash pg.sh; fi
if [ ! -x /usr/bin/time ]; then
  apt-get install -y -qq time > /dev/null
fi
if [ ! -d node_modules/@duckdb/node-api ]; then
  echo "run.sh: installing DuckDB (npm @duckdb/node-api) into bench/node_modules" >&2
  npm install --no-audit --no-fund --silent > /dev/null
fi

# PARTS=stream-state / stream-join ((f), (g) of issue 9): datagen jobs, no sales data.
if [[ "${PARTS:-}" == stream-* ]]; then
  mkdir -p "$D"
  [ -f "$D/products.parquet" ] || "$BIN" generate products --out "$D/products.parquet" --products 1000
  exec node bench.mjs
fi

# Data, generated once per (ROWS, FILES, SMALL_FILES) and kept.
key="$ROWS-$FILES-$SMALL_FILES"
if [ ! -f "$D/.done-$key" ]; then
  echo "run.sh: generating data in bench/$D ($key)" >&2
  rm -rf "$D"
  mkdir -p "$D"
  "$BIN" generate products --out "$D/products.parquet" --products 1000
  "$BIN" generate sales --out "$D/sales" --rows "$ROWS" --files "$FILES" --seed 1 --rate 20000
  "$BIN" generate sales --out "$D/small" --rows $((SMALL_FILES * 1000)) --files "$SMALL_FILES" \
    --seed 2 --rate 20000
  node duck.mjs 2 1 "COPY (SELECT * FROM read_csv('$D/sales/*.csv', header=true,
    auto_detect=false, delim=',', columns={'sale_id':'INTEGER','product_id':'INTEGER',
    'quantity':'INTEGER','ts':'TIMESTAMP'})) TO '$D/sales.parquet' (FORMAT parquet)" > /dev/null
  touch "$D/.done-$key"
fi
cat "$D"/sales/*.csv "$D/sales.parquet" "$D/products.parquet" > /dev/null # page cache

echo "Tributary $("$BIN" --version 2>/dev/null | head -1), DuckDB $(node -e "
  import('@duckdb/node-api').then(async (m) => {
    const c = await (await m.DuckDBInstance.create(':memory:')).connect();
    console.log((await c.runAndReadAll('SELECT version()')).getRows()[0][0]); })"),\
 $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
node bench.mjs
echo
# pg-append, pg-upsert: the PostgreSQL sink against psql (pg.sh; PARTS=pg runs it alone)
[ "${PARTS:-}" = batch ] || { bash pg.sh; echo; }
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at end"

# Kafka (issue 10): the reference job over a 4-partition topic on librdkafka's mock
# cluster against kcat in the same run, and produce-to-view latency (KAFKA=0 skips it).
if [ "${KAFKA:-1}" != 0 ]; then
  echo
  bash kafka.sh
fi
# serving (issue 11): pgbench on the consolidated view, Tributary vs PostgreSQL 15
[ "${SERVE_BENCH:-1}" = 0 ] || bash serve_pgbench.sh
