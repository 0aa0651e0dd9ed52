#!/usr/bin/env bash
# End-to-end tests of window table functions in streaming jobs (hop and tumble in FROM)
# with the real binary, real files and Delta tables: files fed while the job runs, then
# the views and sinks compared with the batch answer over all files (tributary query).
#   1. hop, no watermark: view (complete), Delta sink (complete), files sink (update:
#      replaying the changed rows batch by batch gives the answer);
#   2. hop (10 s every 4 s) and tumble (grouped by window_end) with a watermark, append
#      mode: each window appended once to Delta after the watermark passes its end,
#      a late row dropped and counted, the view = emitted + open windows.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at build/tributary}
SRC=${TB_SRCDIR:?}
T=$(mktemp -d /tmp/tb-stream-window-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name expected-file actual-file
  if diff -u "$2" "$3" > "$T/diff.txt"; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1"; head -40 "$T/diff.txt"
  fi
}
check_eq() { # name expected actual
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1: expected $2, got $3"
  fi
}
q() { "$BIN" query --format csv "$1"; }
# The view as the final dashboard tick prints it (csv after the "== " header).
last_view() { awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$1"; }
# Wait (at most 60 s) until a progress file has at least N records.
wait_batches() { # file n
  for _ in $(seq 600); do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "timeout waiting for $2 batches in $1"; return 1
}

# ---------------------------------------------------------------- 1. complete + update
D=$T/complete; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 30
"$BIN" run "$SRC/tests/stream/job_window_complete.sql" --set DATA="$D" \
  --checkpoint "$D/ckpt" --trigger '100 milliseconds' --quiet --format csv \
  --show "SELECT * FROM sliding ORDER BY 1, 2, 3" --every '1 hour' \
  --idle-stop '8 seconds' --stop-after '120 seconds' --progress "$D/progress.jsonl" \
  > "$D/run.out" &
JOB=$!
sleep 0.5
for k in $(seq 0 7); do
  "$BIN" generate sales --out "$D/sales" --rows 400 --files 1 --first-file "$k" \
    --first-id $((k * 400 + 1)) --seed $((300 + k)) --products 30 \
    --start "$(date -u -d "2024-03-01 10:00:00 UTC + $((k * 8)) seconds" '+%F %T')" --rate 40
  sleep 0.2
done
wait $JOB
answer="SELECT window_start, window_end, category, sum(quantity) AS total_quantity
  FROM hop(read_csv('$D/sales'), ts, INTERVAL '5 seconds', INTERVAL '10 seconds')
  JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
q "$answer" > "$D/expect.csv"
[ "$(wc -l < "$D/expect.csv")" -gt 100 ] || { echo "FAIL: batch answer too small"; exit 1; }
last_view "$D/run.out" > "$D/view.csv"
check "hop complete: view = batch answer" "$D/expect.csv" "$D/view.csv"
q "SELECT * FROM read_delta('$D/out') ORDER BY 1, 2, 3" > "$D/delta.csv"
check "hop complete: delta = batch answer" "$D/expect.csv" "$D/delta.csv"
batches=$(wc -l < "$D/progress.jsonl")
[ "$batches" -ge 2 ] && { pass=$((pass + 1)); echo "ok   hop complete: $batches batches"; } \
  || { fail=$((fail + 1)); echo "FAIL hop complete: only $batches batch(es)"; }
# update mode: the rows changed in each batch, replayed in batch order
python3 - "$D/updates" "$D/expect.csv" > "$D/replay.csv" <<'EOF'
import csv, glob, os, sys
rows, header = {}, None
for f in sorted(glob.glob(os.path.join(sys.argv[1], "part-*.csv"))):
    with open(f, newline="") as fp:
        r = csv.reader(fp)
        header = next(r)
        for row in r:
            rows[tuple(row[:3])] = row
with open(sys.argv[2], newline="") as fp:
    header = next(csv.reader(fp))
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(header)
for k in sorted(rows):
    w.writerow(rows[k])
EOF
check "hop update: changed rows replayed = batch answer" "$D/expect.csv" "$D/replay.csv"
parts=$(ls "$D/updates" | grep -c '^part-' || true)
[ "$parts" = "$batches" ] && { pass=$((pass + 1)); echo "ok   hop update: one part file per batch"; } \
  || { fail=$((fail + 1)); echo "FAIL hop update: $parts part files for $batches batches"; }

# ---------------------------------------------------------------- 2. append + watermark
D=$T/append; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 10
# File k holds rows at base + 10k s .. base + 10k + 9.9 s (shuffled), the first of them
# 2 s earlier (out of order, never late: the watermark trails the previous file's
# maximum by 5 s). File 3 also holds sale 999999 at base + 1 s: late once file 0 is in.
gen_file() { # k
  python3 - "$D/sales" "$1" <<'EOF'
import datetime, os, random, sys
d, k = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1000 + k)
base = datetime.datetime(2024, 5, 1, 12, 0, 0)
rows = []
for i in range(300):
    ms = 10000 * k + rnd.randrange(0, 10000)
    rows.append((k * 1000 + i, rnd.randrange(1, 11), rnd.randrange(1, 10), ms))
rows[0] = (rows[0][0], rows[0][1], rows[0][2], 10000 * k - 2000 if k > 0 else 0)
if k == 3:
    rows.append((999999, 1, 50, 1000))
tmp = os.path.join(d, ".sales-%02d.csv" % k)
with open(tmp, "w") as f:
    f.write("sale_id,product_id,quantity,ts\n")
    for sid, pid, qty, ms in rows:
        t = base + datetime.timedelta(milliseconds=ms)
        f.write("%d,%d,%d,%s\n" % (sid, pid, qty, t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]))
os.rename(tmp, os.path.join(d, "sales-%02d.csv" % k))
EOF
}
"$BIN" run "$SRC/tests/stream/job_window_append.sql" --set DATA="$D" \
  --checkpoint "$D/ckpt" --trigger '100 milliseconds' --quiet --format csv \
  --show "SELECT * FROM sliding ORDER BY 1, 2, 3" --every '1 hour' \
  --idle-stop '8 seconds' --stop-after '120 seconds' --progress "$D/progress.jsonl" \
  > "$D/run.out" &
JOB=$!
sleep 0.3
gen_file 0
wait_batches "$D/progress.jsonl" 2 # one record per view and batch
for k in 1 2 3 4 5; do
  gen_file "$k"
  sleep 0.3
done
wait $JOB
late=$(python3 -c "import json; print(sum(json.loads(l)['rowsDroppedByWatermark'] for l in open('$D/progress.jsonl') if json.loads(l)['name'] == 'sliding'))")
check_eq "append: the late row dropped and counted once" 1 "$late"
wm=$(python3 -c "import json; print([json.loads(l)['watermark'] for l in open('$D/progress.jsonl')][-1])")
src="(SELECT * FROM read_csv('$D/sales') WHERE sale_id <> 999999)"
check_eq "append: final watermark = max ts - 5 s" \
  "$(q "SELECT max(ts) - INTERVAL '5 seconds' FROM $src AS s" | tail -1)" "$wm"
# sliding: the view holds every window, the Delta table the closed ones, once each
q "SELECT window_start, window_end, category, sum(quantity) AS total_quantity
   FROM hop($src, ts, INTERVAL '4 seconds', INTERVAL '10 seconds')
   JOIN read_parquet('$D/products.parquet') USING (product_id)
   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" > "$D/expect_all.csv"
last_view "$D/run.out" > "$D/view.csv"
check "hop append: view = batch answer without the late row" "$D/expect_all.csv" "$D/view.csv"
q "SELECT window_start, window_end, category, sum(quantity) AS total_quantity
   FROM hop($src, ts, INTERVAL '4 seconds', INTERVAL '10 seconds')
   JOIN read_parquet('$D/products.parquet') USING (product_id)
   GROUP BY 1, 2, 3 HAVING window_end <= TIMESTAMP '$wm' ORDER BY 1, 2, 3" > "$D/expect_closed.csv"
q "SELECT * FROM read_delta('$D/out_sliding') ORDER BY 1, 2, 3" > "$D/delta.csv"
check "hop append: delta = closed windows, once each" "$D/expect_closed.csv" "$D/delta.csv"
open_n=$(($(wc -l < "$D/expect_all.csv") - $(wc -l < "$D/expect_closed.csv")))
[ "$open_n" -gt 0 ] && [ "$(wc -l < "$D/expect_closed.csv")" -gt 40 ] \
  && { pass=$((pass + 1)); echo "ok   hop append: $open_n rows of open windows not emitted"; } \
  || { fail=$((fail + 1)); echo "FAIL hop append: $open_n open rows"; }
commits=$(ls "$D/out_sliding/_delta_log" | grep -c '\.json$')
[ "$commits" -ge 2 ] && { pass=$((pass + 1)); echo "ok   hop append: windows emitted over $commits commits"; } \
  || { fail=$((fail + 1)); echo "FAIL hop append: $commits commits"; }
# tumbling, grouped by window_end only
q "SELECT window_end, category, count(*) AS n, sum(quantity) AS total_quantity
   FROM tumble($src, ts, INTERVAL '10 seconds') s
   JOIN read_parquet('$D/products.parquet') p USING (product_id)
   GROUP BY window_end, category HAVING window_end <= TIMESTAMP '$wm' ORDER BY 1, 2" \
  > "$D/expect_tumble.csv"
q "SELECT * FROM read_delta('$D/out_tumbling') ORDER BY 1, 2" > "$D/delta_tumble.csv"
check "tumble append (window_end): delta = closed windows, once each" \
  "$D/expect_tumble.csv" "$D/delta_tumble.csv"
mode=$(python3 -c "import json; l=[json.loads(l) for l in open('$D/progress.jsonl') if json.loads(l)['name'] == 'tumbling'][-1]; print(l['sinks'][0]['mode'])")
check_eq "tumble append: the default mode of a windowed sink is append" append "$mode"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
