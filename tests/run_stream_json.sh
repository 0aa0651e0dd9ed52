#!/usr/bin/env bash
# End-to-end tests of a JSON lines stream (format = 'json') with the real binary: files
# fed while the job runs and joined with a static Parquet table (the view equals the
# batch answer of read_json over the same files), a restart, and the bad-input cases of
# README "Bad input and failures" for JSON lines (permissive, dropmalformed, failfast,
# bad_records_path, a line over max_line_bytes, an unknown option).
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at build/tributary}
SRC=${TB_SRCDIR:?}
JOB=$SRC/tests/stream/job_json.sql
ROWSJOB=$SRC/tests/stream/job_json_rows.sql
T=$(mktemp -d /tmp/tb-stream-json-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # name expected-file actual-file
  if diff -u "$2" "$3" > "$T/diff.txt"; then ok "$1"; else bad "$1"; head -40 "$T/diff.txt"; fi
}
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi; }
no_crash() { # status stderr-file
  if [ "$1" -ge 128 ] || grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$2"; then
    bad "crash (status $1)"; head -30 "$2"; return 1
  fi
}
SCHEMA="schema => 'sale_id int, product_id int, quantity int, ts timestamp'"
batch_answer() { # dir -> csv of the reference query over every file, ordered
  "$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
      sum(quantity) AS total_quantity
    FROM read_json('$1/sales', $SCHEMA) JOIN read_parquet('$1/products.parquet') USING (product_id)
    GROUP BY 1, 2 ORDER BY 1, 2"
}
sum_progress() { # file key
  python3 -c "import json,sys; print(sum(json.loads(l)[sys.argv[2]] for l in open(sys.argv[1])))" "$1" "$2"
}
# The view as the final dashboard tick prints it (csv after the "== " header).
last_view() { awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$1"; }
# gen DIR FIRST COUNT ROWS SEED START: COUNT JSON lines files of ROWS sales each, made
# from generated CSV: keys in varying order, an extra nested key, some CRLF files, a
# blank line; each written under a hidden name and renamed into DIR/sales.
gen() {
  local d=$1 k
  for ((k = $2; k < $2 + $3; k++)); do
    rm -rf "$d/stage"; mkdir -p "$d/stage"
    "$BIN" generate sales --out "$d/stage" --rows "$4" --files 1 --first-file "$k" \
      --first-id $((k * $4 + 1)) --seed $(($5 + k)) --start "$6" --rate 500
    python3 - "$d/stage" "$d/sales" "$k" <<'PY'
import csv, json, os, sys
stage, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = [os.path.join(stage, f) for f in os.listdir(stage)][0]
nl = "\r\n" if k % 3 == 2 else "\n"
lines = []
for i, r in enumerate(csv.DictReader(open(src))):
    o = {"sale_id": int(r["sale_id"]), "product_id": int(r["product_id"]),
         "quantity": int(r["quantity"]), "ts": r["ts"].replace(" ", "T") if i % 2 else r["ts"]}
    if i % 4 == 1:
        o = {"ts": o["ts"], "meta": {"src": "pos", "tags": [i, None]}, "quantity": o["quantity"],
             "product_id": o["product_id"], "sale_id": o["sale_id"]}
    lines.append(json.dumps(o))
    if i == 3:
        lines.append("")
tmp = os.path.join(out, ".sales-%06d.jsonl.tmp" % k)
with open(tmp, "w", newline="") as f:
    f.write(nl.join(lines) + nl)
os.rename(tmp, os.path.join(out, "sales-%06d.jsonl" % k))
PY
  done
  rm -rf "$d/stage"
}
run_job() { # job dir mode out-file [args]: available-now, views printed as csv at the end
  local job=$1 d=$2 mode=$3 out=$4
  shift 4
  "$BIN" run "$job" --set DATA="$d" --set MODE="$mode" --set MAXLINE=67108864 \
    --checkpoint "$d/ckpt" --trigger available-now --quiet --format csv --every '1 hour' \
    --progress "$d/progress.jsonl" "$@" > "$out" 2> "$d/err.txt"
}

# 1. Files fed while the job runs; the view equals the batch answer.
D=$T/live; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 200
st=0
"$BIN" run "$JOB" --set DATA="$D" --set MODE=failfast --set MAXLINE=67108864 \
  --checkpoint "$D/ckpt" --trigger '100 milliseconds' --quiet --format csv \
  --show "SELECT * FROM sales_by_category ORDER BY 1, 2" --every '1 hour' \
  --idle-stop '8 seconds' --stop-after '120 seconds' --progress "$D/progress.jsonl" \
  > "$D/run.out" 2> "$D/err.txt" &
JOB_PID=$!
sleep 0.5
gen "$D" 0 10 600 100 '2024-03-01 10:00:00'
wait $JOB_PID || st=$?
if no_crash "$st" "$D/err.txt" && [ "$st" = 0 ]; then
  batch_answer "$D" > "$D/expect.csv"
  last_view "$D/run.out" > "$D/view.csv"
  check "live JSON feed: view = batch answer" "$D/expect.csv" "$D/view.csv"
  [ "$(wc -l < "$D/expect.csv")" -gt 10 ] && ok "live JSON feed: the answer has rows" \
    || bad "live JSON feed: empty answer"
  expect_eq "live JSON feed: progress counts 6000 rows, 0 malformed" "6000 0" \
    "$(sum_progress "$D/progress.jsonl" numInputRows) $(sum_progress "$D/progress.jsonl" rowsMalformed)"
  batches=$(wc -l < "$D/progress.jsonl")
  [ "$batches" -gt 1 ] && ok "live JSON feed: $batches batches while files landed" \
    || bad "live JSON feed: a single batch"
else
  bad "live JSON feed: exit $st"; head -5 "$D/err.txt"
fi

# 2. Restart: 4 files, stop, 4 more, resume: nothing lost or repeated.
D=$T/restart; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 200
gen "$D" 0 4 500 300 '2024-03-02 00:00:00'
run_job "$JOB" "$D" failfast /dev/null || true
gen "$D" 4 4 500 300 '2024-03-02 00:00:00'
st=0
run_job "$JOB" "$D" failfast "$D/run.out" --show "SELECT * FROM sales_by_category ORDER BY 1, 2" || st=$?
if no_crash "$st" "$D/err.txt" && [ "$st" = 0 ]; then
  batch_answer "$D" > "$D/expect.csv"
  last_view "$D/run.out" > "$D/view.csv"
  check "restart: view = batch answer" "$D/expect.csv" "$D/view.csv"
  expect_eq "restart: 4000 rows read once" 4000 "$(sum_progress "$D/progress.jsonl" numInputRows)"
else
  bad "restart: exit $st"; head -5 "$D/err.txt"
fi

# 3. Bad lines, permissive: every line is a row (bad values NULL), each malformed one
# counted and kept in bad_records_path with its file, line and reason.
D=$T/bad; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 10
printf '%s\n' \
  '{"sale_id": 1, "product_id": 1, "quantity": 2, "ts": "2024-01-01 00:00:01"}' \
  '{"sale_id": 2, "product_id": 1, "quantity": "two", "ts": "2024-01-01 00:00:02"}' \
  '{"sale_id": 3, "product_id": 1, "quantity": 3, "ts": "2024-13-45 00:00:00"}' \
  '' \
  '{"sale_id": 4, "product_id": 1, "quantity": 4, "ts": "2024-01-01 00:00:04"' \
  '[4, 1, 4]' \
  '{"sale_id": 6, "product_id": 1, "quantity": 1.5, "ts": "2024-01-01 00:00:06"}' \
  '{"sale_id": 7, "product_id": 2, "quantity": 7, "ts": 1704067207}' > "$D/sales/a.jsonl"
printf '{"sale_id": 8, "product_id": 2, "quantity": 1, "ts": "\xff"}\n{"sale_id": 9, "product_id": 2, "quantity": 1, "ts": "2024-01-01 00:00:09"}\n' > "$D/sales/b.jsonl"
st=0
run_job "$ROWSJOB" "$D" permissive "$D/run.out" --show "SELECT count(*) FROM sales_rows" || st=$?
if no_crash "$st" "$D/err.txt" && [ "$st" = 0 ]; then
  recs=$(cat "$D"/bad/bad_records-*.jsonl | python3 -c "
import json, sys
recs = [json.loads(l) for l in sys.stdin]
assert all(r['reason'] and 'record' in r and r['batch'] == 0 for r in recs), recs
print(' '.join('%s:%d' % (r['file'].rsplit('/', 1)[1], r['line']) for r in recs))")
  expect_eq "permissive: 9 lines in, 9 rows out, 6 malformed counted, bad records with file:line" \
    "9 9 6 a.jsonl:2 a.jsonl:3 a.jsonl:5 a.jsonl:6 a.jsonl:7 b.jsonl:1" \
    "$(sum_progress "$D/progress.jsonl" numInputRows) $(tail -1 "$D/run.out") $(sum_progress "$D/progress.jsonl" rowsMalformed) $recs"
  reason=$(python3 -c "import json; print(json.loads(open('$D/bad/bad_records-0.jsonl').readline())['reason'])")
  expect_eq "permissive: the reason names the key" \
    'key "quantity": expected an integer number for type integer, found string "two"' "$reason"
  rec=$(python3 -c "
import json
for l in open('$D/bad/bad_records-0.jsonl'):
    r = json.loads(l)
    if r['file'].endswith('b.jsonl'): print(r['record'] == '{\"sale_id\": 8, \"product_id\": 2, \"quantity\": 1, \"ts\": \"\ufffd\"}', r['reason'])")
  expect_eq "permissive: invalid UTF-8 kept as U+FFFD in the bad record" "True invalid UTF-8 at byte 55" "$rec"
  # the rows: the seconds-since-epoch timestamp of sale 7, NULL for bad values, all NULL
  # for lines that are not valid JSON (sale 8's invalid UTF-8 included, as in Spark)
  "$BIN" run "$ROWSJOB" --set DATA="$D" --set MODE=permissive --set MAXLINE=67108864 \
    --checkpoint "$D/ckpt2" --trigger once --quiet --format csv --every '1 hour' \
    --show "SELECT sale_id, quantity, ts FROM sales_rows ORDER BY sale_id NULLS LAST" \
    2>/dev/null | last_view /dev/stdin > "$D/rows.csv"
  printf '%s\n' sale_id,quantity,ts '1,2,2024-01-01 00:00:01' '2,,2024-01-01 00:00:02' \
    '3,3,' '6,,2024-01-01 00:00:06' '7,7,2024-01-01 00:00:07' \
    '9,1,2024-01-01 00:00:09' ',,' ',,' ',,' > "$D/rows_expect.csv"
  check "permissive: row values (bad values NULL; invalid JSON or UTF-8: the whole row)" "$D/rows_expect.csv" "$D/rows.csv"
else
  bad "permissive: exit $st"; head -5 "$D/err.txt"
fi

# 4. dropmalformed: rows out + dropped = lines in.
rm -rf "$D/ckpt" "$D/bad" "$D/progress.jsonl"
st=0
run_job "$ROWSJOB" "$D" dropmalformed "$D/run.out" --show "SELECT count(*) FROM sales_rows" || st=$?
if no_crash "$st" "$D/err.txt" && [ "$st" = 0 ]; then
  expect_eq "dropmalformed: 3 rows out + 6 dropped and counted = 9 lines" "3 6" \
    "$(tail -1 "$D/run.out") $(sum_progress "$D/progress.jsonl" rowsMalformed)"
else
  bad "dropmalformed: exit $st"; head -5 "$D/err.txt"
fi

# 5. failfast: the query stops naming the file, the line and the key; nothing commits.
rm -rf "$D/ckpt" "$D/bad" "$D/progress.jsonl"
st=0
run_job "$ROWSJOB" "$D" failfast "$D/run.out" || st=$?
if no_crash "$st" "$D/err.txt"; then
  if [ "$st" = 1 ] && grep -q 'a.jsonl:2: key "quantity": expected an integer number' "$D/err.txt"; then
    ok "failfast: $(grep -m1 -o 'json: .*' "$D/err.txt" | cut -c1-150)"
  else
    bad "failfast: exit $st"; head -5 "$D/err.txt"
  fi
  # (the checkpoint log: batch 0's record is there, no record commits it)
  grep -aq '"batch":0' "$D"/ckpt/sales_rows/log/* && ! grep -aq '"commit"' "$D"/ckpt/sales_rows/log/* \
    && ok "failfast: the batch is not committed" \
    || bad "failfast: batch 0 committed"
fi

# 6. A line over max_line_bytes (a 5 MB line, limit 1 MiB): the query stops naming it.
D=$T/long; mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 10
{ printf '{"sale_id": 1, "product_id": 1, "quantity": 1, "ts": "2024-01-01 00:00:00"}\n{"sale_id": 2, "note": "'
  head -c 5000000 /dev/zero | tr '\0' x
  printf '"}\n'; } > "$D/sales/big.jsonl"
st=0
"$BIN" run "$ROWSJOB" --set DATA="$D" --set MODE=permissive --set MAXLINE=1048576 \
  --checkpoint "$D/ckpt" --trigger available-now --quiet > /dev/null 2> "$D/err.txt" || st=$?
if no_crash "$st" "$D/err.txt"; then
  if [ "$st" = 1 ] && grep -q 'big.jsonl:2: line longer than max_line_bytes (1048576 bytes)' "$D/err.txt"; then
    ok "a 5 MB line over max_line_bytes stops the query naming file:line"
  else
    bad "long line: exit $st"; head -5 "$D/err.txt"
  fi
fi

# 7. An option the JSON reader does not know is refused when the job starts.
sed "s/mode = '\${MODE}'/header = 'true'/" "$ROWSJOB" > "$T/job_badopt.sql"
st=0
"$BIN" run "$T/job_badopt.sql" --set DATA="$D" --set MAXLINE=1 --checkpoint "$T/ck7" \
  --trigger once --quiet > /dev/null 2> "$T/err7.txt" || st=$?
if no_crash "$st" "$T/err7.txt"; then
  if [ "$st" = 1 ] && grep -q "read_json: unknown option 'header'" "$T/err7.txt"; then
    ok "unknown option refused: $(grep -m1 -o "read_json: .*" "$T/err7.txt" | cut -c1-100)"
  else
    bad "unknown option: exit $st"; head -5 "$T/err7.txt"
  fi
fi

# 8. Keys match case-sensitively: a column declared unquoted (lower case) for a camelCase
# key stays NULL, and the reader says why (once per source); quoted, it is filled.
printf '{"productId": 1}\n{"productId": 2}\n' > "$T/camel.jsonl"
st=0
out=$("$BIN" query --format csv "SELECT count(productid) FROM read_json('$T/camel.jsonl', schema => 'productId int')" 2> "$T/err8.txt") || st=$?
if no_crash "$st" "$T/err8.txt"; then
  expect_eq "camelCase key, unquoted column: NULL, with a warning naming both" "0 0 1" \
    "$st $(echo "$out" | tail -1) $(grep -c 'key "productId" matches no column, but column "productid" differs from it only in case' "$T/err8.txt")"
fi
st=0
out=$("$BIN" query --format csv "SELECT count(\"productId\") FROM read_json('$T/camel.jsonl', schema => '\"productId\" int')" 2> "$T/err8.txt") || st=$?
if no_crash "$st" "$T/err8.txt"; then
  expect_eq "camelCase key, quoted column: filled, no warning" "0 2 0" \
    "$st $(echo "$out" | tail -1) $(grep -c 'warning' "$T/err8.txt")"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
