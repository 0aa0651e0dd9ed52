#!/usr/bin/env bash
# End-to-end tests of the streaming runtime with the real binary, real files, real
# Delta tables: files fed while the job runs, restart without loss or repetition,
# append mode with late rows, and a 100,000-file directory. Each check compares the
# view / Delta table with the batch answer over the same files.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at build/tributary}
SRC=${TB_SRCDIR:?}
T=$(mktemp -d /tmp/tb-stream-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name expected-file actual-file
  if diff -u "$2" "$3" > "$T/diff.txt"; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1"; head -40 "$T/diff.txt"
  fi
}
batch_answer() { # dir -> csv of the reference query over every file, ordered
  "$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
      sum(quantity) AS total_quantity
    FROM read_csv('$1/sales') JOIN read_parquet('$1/products.parquet') USING (product_id)
    GROUP BY 1, 2 ORDER BY 1, 2"
}
delta_answer() { # dir -> csv of the Delta table, ordered
  "$BIN" query --format csv "SELECT window_start, category, total_quantity
    FROM read_delta('$1/out') ORDER BY 1, 2"
}
gen() { # dir first-file count rows seed-base start
  for ((k = $2; k < $2 + $3; k++)); do
    "$BIN" generate sales --out "$1/sales" --rows "$4" --files 1 --first-file "$k" \
      --first-id $((k * $4 + 1)) --seed $(($5 + k)) --start "$6" --rate 500
  done
}
# The view as the final dashboard tick prints it (csv after the "== " header).
last_view() { awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$1"; }

# 1. Files fed while the job runs; the view and the Delta table equal the batch answer.
D=$T/live; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 200
"$BIN" run "$SRC/tests/stream/job_complete.sql" --set DATA="$D" --set MAXF=0 \
  --checkpoint "$D/ckpt" --trigger '100 milliseconds' --quiet --format csv \
  --show "SELECT * FROM sales_by_category ORDER BY 1, 2" --every '1 hour' \
  --idle-stop '3 seconds' --stop-after '120 seconds' --progress "$D/progress.jsonl" \
  > "$D/run.out" &
JOB=$!
sleep 0.5
gen "$D" 0 12 800 100 '2024-03-01 10:00:00'
wait $JOB
batch_answer "$D" > "$D/expect.csv"
last_view "$D/run.out" > "$D/view.csv"
check "live feed: view = batch answer" "$D/expect.csv" "$D/view.csv"
delta_answer "$D" > "$D/delta.csv"
check "live feed: delta = batch answer" "$D/expect.csv" "$D/delta.csv"
rows=$(python3 -c "import json,sys; print(sum(json.loads(l)['numInputRows'] for l in open('$D/progress.jsonl')))")
[ "$rows" = 9600 ] && { pass=$((pass + 1)); echo "ok   live feed: progress counts 9600 rows"; } \
  || { fail=$((fail + 1)); echo "FAIL live feed: progress counts $rows rows, expected 9600"; }

# 2. Restart: 5 files, stop, 5 more, resume from the checkpoint: nothing lost or repeated.
D=$T/restart; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 200
gen "$D" 0 5 700 200 '2024-03-02 00:00:00'
"$BIN" run "$SRC/tests/stream/job_complete.sql" --set DATA="$D" --set MAXF=2 \
  --checkpoint "$D/ckpt" --trigger available-now --quiet --progress "$D/p1.jsonl" > /dev/null
gen "$D" 5 5 700 200 '2024-03-02 00:00:00'
"$BIN" run "$SRC/tests/stream/job_complete.sql" --set DATA="$D" --set MAXF=2 \
  --checkpoint "$D/ckpt" --trigger available-now --quiet --format csv \
  --show "SELECT * FROM sales_by_category ORDER BY 1, 2" --every '1 hour' \
  --progress "$D/p2.jsonl" > "$D/run.out"
batch_answer "$D" > "$D/expect.csv"
last_view "$D/run.out" > "$D/view.csv"
check "restart: view = batch answer" "$D/expect.csv" "$D/view.csv"
delta_answer "$D" > "$D/delta.csv"
check "restart: delta = batch answer" "$D/expect.csv" "$D/delta.csv"
first=$(python3 -c "import json; print(json.loads(open('$D/p2.jsonl').readline())['batchId'])")
[ "$first" = 3 ] && { pass=$((pass + 1)); echo "ok   restart: batch ids continue (3)"; } \
  || { fail=$((fail + 1)); echo "FAIL restart: second run started at batch $first, expected 3"; }

# 3. A changed query is refused on the same checkpoint.
sed 's/10 seconds/20 seconds/' "$SRC/tests/stream/job_complete.sql" > "$D/changed.sql"
if "$BIN" run "$D/changed.sql" --set DATA="$D" --set MAXF=0 --checkpoint "$D/ckpt" \
     --trigger once --quiet 2> "$D/err.txt"; then
  fail=$((fail + 1)); echo "FAIL changed query: accepted"
elif grep -q "different query" "$D/err.txt"; then
  pass=$((pass + 1)); echo "ok   changed query: refused"
else
  fail=$((fail + 1)); echo "FAIL changed query: wrong message"; cat "$D/err.txt"
fi

# 4. Append mode: late rows dropped and counted; final windows appended once each.
D=$T/append; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 50
printf 'sale_id,product_id,quantity,ts\n1,1,5,2024-01-01 00:00:01\n2,2,7,2024-01-01 00:00:12\n' > "$D/sales/a.csv"
"$BIN" run "$SRC/tests/stream/job_append.sql" --set DATA="$D" --checkpoint "$D/ckpt" \
  --trigger available-now --quiet --progress "$D/p.jsonl" > /dev/null
# watermark is now 00:00:07: a row at 00:00:03 is late; 00:00:30 closes [00:00:10, 00:00:20)
printf 'sale_id,product_id,quantity,ts\n3,1,100,2024-01-01 00:00:03\n4,3,1,2024-01-01 00:00:30\n' > "$D/sales/b.csv"
"$BIN" run "$SRC/tests/stream/job_append.sql" --set DATA="$D" --checkpoint "$D/ckpt" \
  --trigger available-now --quiet --progress "$D/p.jsonl" > /dev/null
late=$(python3 -c "import json; print(sum(json.loads(l)['rowsDroppedByWatermark'] for l in open('$D/p.jsonl')))")
[ "$late" = 1 ] && { pass=$((pass + 1)); echo "ok   append: 1 late row dropped and counted"; } \
  || { fail=$((fail + 1)); echo "FAIL append: late rows counted $late, expected 1"; }
cat1=$("$BIN" query --format csv "SELECT category FROM read_parquet('$D/products.parquet') WHERE product_id = 1" | tail -1)
cat2=$("$BIN" query --format csv "SELECT category FROM read_parquet('$D/products.parquet') WHERE product_id = 2" | tail -1)
{ echo "window_start,category,total_quantity"
  echo "2024-01-01 00:00:00,$cat1,5"
  echo "2024-01-01 00:00:10,$cat2,7"; } > "$D/expect.csv"
delta_answer "$D" > "$D/delta.csv"
check "append: final windows once each in delta" "$D/expect.csv" "$D/delta.csv"

# 5. A directory of 100,000 files: every row read once, in bounded batches.
D=$T/many; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 100
"$BIN" generate sales --out "$D/sales" --rows 100000 --files 100000 --seed 7 --products 100
sed 's/max_files_per_trigger = .${MAXF}./max_files_per_trigger = 20000/' \
  "$SRC/tests/stream/job_complete.sql" > "$D/job.sql"
"$BIN" run "$D/job.sql" --set DATA="$D" --checkpoint "$D/ckpt" --trigger available-now \
  --quiet --progress "$D/p.jsonl" > /dev/null
batches=$(wc -l < "$D/p.jsonl")
rows=$(python3 -c "import json; print(sum(json.loads(l)['numInputRows'] for l in open('$D/p.jsonl')))")
[ "$rows" = 100000 ] && [ "$batches" = 5 ] \
  && { pass=$((pass + 1)); echo "ok   100k files: 100000 rows in 5 batches"; } \
  || { fail=$((fail + 1)); echo "FAIL 100k files: $rows rows in $batches batches"; }

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
