#!/usr/bin/env bash
# make demo: the reference job end to end on generated data (README "Demo").
# A feeder drops a sales CSV file (written under a hidden name, then renamed) every
# 300 ms for ~20 s; the job joins, aggregates and writes continuously while the
# dashboard query prints every 5 s; the job stops by itself 3 s after the last file.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${TB_BIN:-build/tributary}
DATA=${DATA:-data}
FILES=${FILES:-60}
ROWS=${ROWS:-2000}

rm -rf "$DATA"
mkdir -p "$DATA/sales" "$DATA/output"
"$BIN" generate products --out "$DATA/products.parquet" --products 1000
echo "demo: products table: $DATA/products.parquet (1000 products)"

feeder() {
  for ((i = 0; i < FILES; i++)); do
    "$BIN" generate sales --out "$DATA/sales" --rows "$ROWS" --files 1 --first-file "$i" \
      --first-id $((i * ROWS + 1)) --seed "$i" --start now --rate "$ROWS"
    sleep 0.3
  done
}
feeder &
FEEDER=$!
trap 'kill $FEEDER 2>/dev/null || true' EXIT

echo "demo: feeding $FILES files of $ROWS sales into $DATA/sales; job starts"
HTTP=${DEMO_HTTP:-127.0.0.1:8080}
PG=${DEMO_PG:-127.0.0.1:5433}
echo "demo: live dashboard at http://$HTTP/ (psql -h ${PG%:*} -p ${PG##*:} for SQL) while it runs"
"$BIN" run examples/sales/job.sql --set DATA="$DATA" --checkpoint "$DATA/checkpoint" \
  --http "$HTTP" --pg "$PG" \
  --trigger '1 second' --show "$(cat examples/sales/dashboard.sql)" --every '5 seconds' \
  --progress "$DATA/progress.jsonl" --idle-stop '4 seconds' --stop-after '60 seconds'
wait $FEEDER || true
trap - EXIT

echo
echo "demo: the Delta table $DATA/output/sales_by_category (final windows), read back:"
"$BIN" query "SELECT category, sum(total_quantity) AS total_quantity, count(*) AS windows
              FROM read_delta('$DATA/output/sales_by_category')
              GROUP BY category ORDER BY total_quantity DESC"
echo "demo: the same over every input file as one batch query (open windows included):"
"$BIN" query "SELECT category, sum(quantity) AS total_quantity
              FROM read_csv('$DATA/sales') JOIN read_parquet('$DATA/products.parquet')
              USING (product_id) GROUP BY category ORDER BY total_quantity DESC"
echo "demo: progress records: $DATA/progress.jsonl ($(wc -l < "$DATA/progress.jsonl") batches)"
