#!/usr/bin/env bash
# hop() and tumble() in FROM return exactly the rows DuckDB computes for the same
# windows: DuckDB has no hop table function, so its side enumerates each row's window
# starts with integer arithmetic on epoch microseconds (range + unnest, then keeps the
# windows whose end is past the row's time): an independent formulation. Every row of
# the answer is compared (sorted, diff). Data: generated sales (CSV files) and products
# (Parquet), plus a file with NULL times and times before 1970; window widths in whole
# seconds, odd microseconds, size multiple of slide or not, size < slide (gaps),
# offsets of both signs. Env: TB_BIN, TB_SRCDIR, TB_BUILD.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
. "$SRC/tests/interop/need_duckdb.sh"
need_duckdb || exit 77  # SKIP (CTest SKIP_RETURN_CODE): the oracle is missing
T=$(mktemp -d "${TMPDIR:-/tmp}/tb-window-duck-XXXXXX")
trap 'rm -rf "$T"' EXIT

"$BIN" generate products --out "$T/products.parquet" --products 50
"$BIN" generate sales --out "$T/sales" --rows 60000 --files 6 --seed 5 --products 50 \
  --start '2024-06-30 23:58:00' --rate 200
{ echo "sale_id,product_id,quantity,ts"
  echo "900001,1,3,"
  echo "900002,2,4,1969-12-31 23:59:58.5"
  echo "900003,3,5,1969-12-31 23:59:51"
  echo "900004,4,6,"
  echo "900005,5,7,1970-01-01 00:00:00"
  echo "900006,6,8,1969-12-31 23:59:59.999999"; } > "$T/sales/extra.csv"

pass=0
fail=0
# slide size offset (microseconds)
for w in "5000000 10000000 0" "4000000 10000000 0" "10000000 4000000 1000000" \
         "7000000 3000000 -2500000" "1000000 1000000 0" "3000001 9999999 12345" \
         "60000000 600000000 -13000000" "250000 1000000 999999"; do
  set -- $w
  slide=$1 size=$2 off=$3
  k=$(( (size - 1) / slide + 1 ))
  "$BIN" query --format csv "SELECT CAST(extract(epoch FROM window_start) * 1000000 AS bigint),
      CAST(extract(epoch FROM window_end) * 1000000 AS bigint), category, count(*),
      sum(quantity)
    FROM hop(read_csv('$T/sales', schema => 'sale_id int, product_id int, quantity int, ts timestamp'),
             ts, INTERVAL '$slide microseconds', INTERVAL '$size microseconds',
             INTERVAL '$off microseconds')
    JOIN read_parquet('$T/products.parquet') USING (product_id)
    GROUP BY 1, 2, 3" | tail -n +2 | LC_ALL=C sort > "$T/tb.csv"
  node "$SRC/tests/interop/query_csv.mjs" "
    WITH s AS (SELECT product_id, quantity, epoch_us(ts) AS t
               FROM read_csv('$T/sales/*.csv', header = true,
                             columns = {'sale_id': 'INTEGER', 'product_id': 'INTEGER',
                                        'quantity': 'INTEGER', 'ts': 'TIMESTAMP'})
               WHERE ts IS NOT NULL),
    l AS (SELECT *, t - ((((t - CAST($off AS BIGINT)) % CAST($slide AS BIGINT))
                          + CAST($slide AS BIGINT)) % CAST($slide AS BIGINT)) AS last FROM s),
    w AS (SELECT product_id, quantity, t,
                 unnest(range(last - CAST($k AS BIGINT) * CAST($slide AS BIGINT), last + 1,
                              CAST($slide AS BIGINT))) AS ws FROM l)
    SELECT ws, ws + CAST($size AS BIGINT), category, count(*), sum(quantity)
    FROM w JOIN read_parquet('$T/products.parquet') USING (product_id)
    WHERE ws + CAST($size AS BIGINT) > t
    GROUP BY 1, 2, 3" | LC_ALL=C sort > "$T/duck.csv"
  n=$(wc -l < "$T/duck.csv")
  if [ "$n" -ge 100 ] && diff "$T/duck.csv" "$T/tb.csv" > "$T/diff.txt"; then
    pass=$((pass + 1)); echo "ok   hop slide=${slide}us size=${size}us offset=${off}us: $n rows as DuckDB"
  else
    fail=$((fail + 1)); echo "FAIL hop slide=${slide}us size=${size}us offset=${off}us ($n DuckDB rows)"
    head -20 "$T/diff.txt"
  fi
done

# tumble in FROM against DuckDB's time_bucket (with an origin for the offset)
"$BIN" query --format csv "SELECT window_start, window_end, category, count(*), sum(quantity)
  FROM tumble(read_csv('$T/sales', schema => 'sale_id int, product_id int, quantity int, ts timestamp'),
              ts, INTERVAL '7 seconds', INTERVAL '3 seconds')
  JOIN read_parquet('$T/products.parquet') USING (product_id)
  GROUP BY 1, 2, 3" | tail -n +2 | LC_ALL=C sort > "$T/tb.csv"
node "$SRC/tests/interop/query_csv.mjs" "
  SELECT time_bucket(INTERVAL '7 seconds', ts, TIMESTAMP '1970-01-01 00:00:03'),
         time_bucket(INTERVAL '7 seconds', ts, TIMESTAMP '1970-01-01 00:00:03')
           + INTERVAL '7 seconds', category, count(*), sum(quantity)
  FROM read_csv('$T/sales/*.csv', header = true,
                columns = {'sale_id': 'INTEGER', 'product_id': 'INTEGER',
                           'quantity': 'INTEGER', 'ts': 'TIMESTAMP'})
  JOIN read_parquet('$T/products.parquet') USING (product_id)
  WHERE ts IS NOT NULL GROUP BY 1, 2, 3" | LC_ALL=C sort > "$T/duck.csv"
n=$(wc -l < "$T/duck.csv")
if [ "$n" -ge 100 ] && diff "$T/duck.csv" "$T/tb.csv" > "$T/diff.txt"; then
  pass=$((pass + 1)); echo "ok   tumble 7 s offset 3 s: $n rows as DuckDB's time_bucket"
else
  fail=$((fail + 1)); echo "FAIL tumble 7 s offset 3 s ($n DuckDB rows)"; head -20 "$T/diff.txt"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
