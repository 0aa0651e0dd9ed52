#!/usr/bin/env bash
# make bench: Tributary against DuckDB on the same data, in the same run, 3 runs each,
# medians and ratios (README in this folder). Data is generated deterministically
# (10 million sales rows in 100 CSV files, 1000 products in Parquet) and cached in
# bench/data. DuckDB comes from npm (@duckdb/node-api), installed into bench/node_modules.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${TB_BIN:-../build/release/tributary}
ROWS=${ROWS:-10000000}
FILES=${FILES:-100}
REPEAT=${REPEAT:-3}
D=data
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
if [ ! -d node_modules/@duckdb/node-api ]; then
  npm install --silent --no-audit --no-fund @duckdb/node-api >/dev/null
fi
if [ ! -f "$D/.done-$ROWS-$FILES" ]; then
  rm -rf "$D"; mkdir -p "$D"
  "$BIN" generate products --out "$D/products.parquet" --products 1000
  "$BIN" generate sales --out "$D/sales" --rows "$ROWS" --files "$FILES" --seed 1 --rate 20000
  node duck.mjs 2 1 "COPY (SELECT * FROM read_csv('$D/sales/*.csv', header=true, columns={'sale_id':'INTEGER','product_id':'INTEGER','quantity':'INTEGER','ts':'TIMESTAMP'})) TO '$D/sales.parquet' (FORMAT parquet)" >/dev/null
  touch "$D/.done-$ROWS-$FILES"
fi
cat "$D"/sales/*.csv "$D/sales.parquet" "$D/products.parquet" > /dev/null # page cache

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
TSCHEMA="schema => 'sale_id int, product_id int, quantity int, ts timestamp'"
DCOLS="columns={'sale_id':'INTEGER','product_id':'INTEGER','quantity':'INTEGER','ts':'TIMESTAMP'}"
declare -A TQ DQ
TQ[a]="SELECT count(*), sum(sale_id), sum(product_id), sum(quantity), max(ts) FROM read_csv('$D/sales', $TSCHEMA)"
DQ[a]="SELECT count(*), sum(sale_id), sum(product_id), sum(quantity), max(ts) FROM read_csv('$D/sales/*.csv', header=true, $DCOLS)"
TQ[b]="SELECT tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity) FROM read_csv('$D/sales', $TSCHEMA) JOIN read_parquet('$D/products.parquet') USING (product_id) GROUP BY 1, 2"
DQ[b]="SELECT time_bucket(INTERVAL '10 seconds', ts) AS w, category, sum(quantity) FROM read_csv('$D/sales/*.csv', header=true, $DCOLS) JOIN read_parquet('$D/products.parquet') USING (product_id) GROUP BY 1, 2"
TQ[c]="SELECT tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity) FROM read_parquet('$D/sales.parquet') JOIN read_parquet('$D/products.parquet') USING (product_id) GROUP BY 1, 2"
DQ[c]="SELECT time_bucket(INTERVAL '10 seconds', ts) AS w, category, sum(quantity) FROM read_parquet('$D/sales.parquet') JOIN read_parquet('$D/products.parquet') USING (product_id) GROUP BY 1, 2"
NAMES=([a]="parse 4 CSV columns" [b]="reference job over CSV" [c]="reference job over Parquet")

printf "| case | threads | Tributary ms | DuckDB ms | Tributary M rows/s | DuckDB M rows/s | ratio | Tributary peak RSS MiB |\n|---|---|---|---|---|---|---|---|\n"
for c in a b c; do
  for th in 1 2; do
    ts=()
    rss=0
    for ((r = 0; r < REPEAT; r++)); do
      out=$( { /usr/bin/time -f "%e %M" "$BIN" query --format csv "SET threads = $th; ${TQ[$c]}" > /dev/null; } 2>&1 | tail -1)
      ts+=("$(echo "$out" | awk '{print $1 * 1000}')")
      k=$(echo "$out" | awk '{print $2}'); [ "$k" -gt "$rss" ] && rss=$k
    done
    tm=$(printf "%s\n" "${ts[@]}" | median)
    dm=$(node duck.mjs "$th" "$REPEAT" "${DQ[$c]}" | awk '{print $1}' | median)
    awk -v n="${NAMES[$c]}" -v th="$th" -v t="$tm" -v d="$dm" -v rows="$ROWS" -v rss="$rss" \
      'BEGIN{printf "| %s | %d | %.0f | %.0f | %.1f | %.1f | %.2fx | %.0f |\n", n, th, t, d, rows/t/1000, rows/d/1000, d/t, rss/1024}'
  done
done
