#!/usr/bin/env bash
# run_compressed.sh - compressed text files (issue 9 point 8), end to end with the real
# binary:
#   1. COPY writes .csv.gz / .csv.zst and read_csv reads them back equal to the plain
#      file (values, inferred names and types);
#   2. read_json over gzip'd JSON lines (gzip(1)) equals the plain file;
#   3. damaged files (truncated, flipped bytes, no magic behind .gz) fail with an error
#      naming the file; a bad row's line is the line of the decompressed text;
#   4. a files stream (format csv) fed .csv.gz files while it runs: the view equals the
#      batch answer over the same files.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at build/tributary}
SRC=${TB_SRCDIR:?}
T=$(mktemp -d /tmp/tb-compressed-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
same() { # name expected actual
  if [ "$2" == "$3" ]; then ok "$1"; else
    bad "$1"; diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | head -20 || true; fi
}
has() { # name needle haystack
  if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1"; echo "  expected '$2' in:"; echo "$3" | head -10 || true; fi
}
no_crash() { # status stderr-file
  if [ "$1" -ge 128 ] || grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$2"; then
    bad "crash (status $1)"; head -30 "$2"; return 1
  fi
}
q() { "$BIN" query --format csv "$@"; }
for tool in gzip python3; do
  command -v $tool > /dev/null || { echo "FAIL: $tool not found"; exit 1; }
done

# 1. COPY round trip. The source has quotes, embedded delimiters and line breaks, NULLs.
python3 - "$T/in.csv" <<'PY'
import sys
with open(sys.argv[1], "w", newline="") as f:
    f.write("id,name,qty,price,ts\n")
    for i in range(20000):
        name = '"a ""quoted"", name"' if i % 97 == 0 else ('"two\nlines"' if i % 101 == 0 else "n%d" % i)
        qty = "" if i % 13 == 0 else str((i * 7919) % 200 - 50)
        f.write("%d,%s,%s,%d.%02d,2024-03-%02d %02d:%02d:%02d\n" % (
            i, name, qty, i % 1000, i % 100, 1 + i % 28, i % 24, i % 60, (i * 7) % 60))
PY
ALL="SELECT * FROM read_csv('$T/in.csv') ORDER BY id"
expect=$(q "$ALL")
for ext in gz zst; do
  q "COPY (SELECT * FROM read_csv('$T/in.csv')) TO '$T/out.csv.$ext'" > /dev/null
  magic=$(od -An -tx1 -N2 "$T/out.csv.$ext" | tr -d ' ')
  [ "$ext" = gz ] && want=1f8b || want=28b5
  same "COPY .csv.$ext writes $ext data" "$want" "$magic"
  same "read_csv('out.csv.$ext') = the plain file (inferred schema too)" "$expect" \
    "$(q "SELECT * FROM read_csv('$T/out.csv.$ext') ORDER BY id")"
  same "read_csv over .csv.$ext: count and sums" \
    "$(q "SELECT count(*), sum(qty), count(qty), max(ts) FROM read_csv('$T/in.csv')")" \
    "$(q "SELECT count(*), sum(qty), count(qty), max(ts) FROM read_csv('$T/out.csv.$ext')")"
done
# a directory mixing plain and compressed files reads as one table
mkdir -p "$T/mixed"
head -10001 "$T/in.csv" > "$T/mixed/a.csv"
(head -1 "$T/in.csv"; tail -n +10002 "$T/in.csv") | gzip -c > "$T/mixed/b.csv.gz"
same "read_csv(dir of .csv and .csv.gz) = the whole file" \
  "$(q "SELECT count(*), sum(id), sum(qty) FROM read_csv('$T/in.csv')")" \
  "$(q "SELECT count(*), sum(id), sum(qty) FROM read_csv('$T/mixed')")"

# 2. JSON lines gzip'd by gzip(1) (zstd JSON lines: test_jsonl.c, compressed with libzstd).
python3 - "$T/in.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(5000):
        o = {"id": i, "name": "n%d" % i, "qty": None if i % 11 == 0 else i % 37,
             "ts": "2024-03-01T%02d:%02d:%02dZ" % (i % 24, i % 60, i % 60)}
        f.write(json.dumps(o) + "\n")
PY
gzip -k -9 "$T/in.jsonl"
same "read_json('in.jsonl.gz') = the plain file" \
  "$(q "SELECT * FROM read_json('$T/in.jsonl') ORDER BY id")" \
  "$(q "SELECT * FROM read_json('$T/in.jsonl.gz') ORDER BY id")"

# 3. Damage. Errors name the file; lines count decompressed lines.
gz=$T/out.csv.gz
size=$(stat -c %s "$gz")
head -c $((size - 100)) "$gz" > "$T/trunc.csv.gz"
python3 - "$gz" "$T/flip.csv.gz" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
for k in range(len(b) // 2, len(b) // 2 + 8):
    b[k] ^= 0xA5
open(sys.argv[2], "wb").write(b)
PY
cp "$T/in.csv" "$T/fake.csv.gz"
for f in trunc flip fake; do
  st=0
  q "SELECT count(*) FROM read_csv('$T/$f.csv.gz')" > "$T/out.txt" 2> "$T/err.txt" || st=$?
  if no_crash "$st" "$T/err.txt"; then
    [ "$st" -ne 0 ] && ok "$f.csv.gz: fails (exit $st)" || bad "$f.csv.gz: no error"
    has "$f.csv.gz: the error names the file" "csv: $T/$f.csv.gz: " "$(cat "$T/err.txt")"
  fi
done
has "truncated gzip: says so" "corrupt gzip data (truncated" "$(q "SELECT count(*) FROM read_csv('$T/trunc.csv.gz')" 2>&1 || true)"
# a bad value on line 10003 of the decompressed text (a record above spans two lines)
python3 - "$T/in.csv" "$T/badrow.csv" <<'PY'
import sys
lines = open(sys.argv[1], newline="").read().split("\n")
lines[10002] = "99999,x,notanumber,1.00,2024-03-01 00:00:00"
open(sys.argv[2], "w", newline="").write("\n".join(lines))
PY
gzip -k "$T/badrow.csv"
has "failfast over .gz: line of the decompressed text" \
  "csv: $T/badrow.csv.gz:10003: column 'qty': invalid integer 'notanumber'" \
  "$(q "SELECT sum(qty) FROM read_csv('$T/badrow.csv.gz', mode => 'failfast', schema => 'id int, name text, qty int, price double, ts timestamp')" 2>&1 || true)"
same "failfast over .gz and over the plain file: the same line" \
  "$(q "SELECT sum(qty) FROM read_csv('$T/badrow.csv', mode => 'failfast', schema => 'id int, name text, qty int, price double, ts timestamp')" 2>&1 | sed 's/badrow.csv:/F:/' || true)" \
  "$(q "SELECT sum(qty) FROM read_csv('$T/badrow.csv.gz', mode => 'failfast', schema => 'id int, name text, qty int, price double, ts timestamp')" 2>&1 | sed 's/badrow.csv.gz:/F:/' || true)"

# 4. A files stream fed .csv.gz files while it runs.
D=$T/stream; mkdir -p "$D/sales" "$D/stage"
"$BIN" generate products --out "$D/products.parquet" --products 100
cat > "$D/job.sql" <<EOF
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '$D/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '$D/sales', mode = 'failfast');
CREATE MATERIALIZED VIEW by_category AS
  SELECT category, count(*) AS n, sum(quantity) AS total
  FROM sales JOIN products USING (product_id) GROUP BY 1;
EOF
st=0
"$BIN" run "$D/job.sql" --checkpoint "$D/ckpt" --trigger '100 milliseconds' --quiet \
  --format csv --show "SELECT * FROM by_category ORDER BY 1" --every '1 hour' \
  --idle-stop '3 seconds' --stop-after '120 seconds' --progress "$D/progress.jsonl" \
  > "$D/run.out" 2> "$D/err.txt" &
JOB_PID=$!
sleep 0.5
for k in 0 1 2 3 4 5; do
  rm -f "$D/stage"/*
  "$BIN" generate sales --out "$D/stage" --rows 700 --files 1 --first-file $k \
    --first-id $((k * 700 + 1)) --seed $((40 + k)) --products 100 > /dev/null
  f=$(ls "$D/stage")
  gzip -c "$D/stage/$f" > "$D/sales/.$f.gz.tmp"
  mv "$D/sales/.$f.gz.tmp" "$D/sales/$f.gz"
  sleep 0.2
done
wait $JOB_PID || st=$?
if no_crash "$st" "$D/err.txt" && [ "$st" = 0 ]; then
  expect=$(q "SELECT category, count(*) AS n, sum(quantity) AS total
    FROM read_csv('$D/sales', schema => 'sale_id int, product_id int, quantity int, ts timestamp')
    JOIN read_parquet('$D/products.parquet') USING (product_id) GROUP BY 1 ORDER BY 1")
  view=$(awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$D/run.out")
  same "files stream of .csv.gz: view = batch answer" "$expect" "${view%$'\n'}"
  same "files stream of .csv.gz: 4200 rows read" 4200 \
    "$(python3 -c "import json,sys; print(sum(json.loads(l)['numInputRows'] for l in open(sys.argv[1])))" "$D/progress.jsonl")"
else
  bad "files stream of .csv.gz: exit $st"; head -5 "$D/err.txt"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
