#!/usr/bin/env bash
# run_malformed_record.sh - malformed is a property of the record (issue 13 point 6):
# with dropmalformed, failfast and permissive counts, `SELECT count(*)` (no column read)
# and `SELECT *` see the same malformed CSV records and JSON lines, whichever columns
# hold the bad values; the real binary on real files.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at build/tributary}
T=$(mktemp -d /tmp/tb-malformed-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
same() { if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi; }
q() { "$BIN" query --format csv "$@" | tail -n +2; }
# 1000 records; bad values in every column at different rows (sale_id, product_id,
# quantity, ts), a record with too few fields, one with a bad quote.
python3 - "$T" <<'PY'
import json, sys
d = sys.argv[1]
with open(d + "/s.csv", "w") as c, open(d + "/s.jsonl", "w") as j:
    c.write("sale_id,product_id,quantity,ts\n")
    for i in range(1000):
        sid, pid, qty, ts = str(i), str(i % 50), str(i % 9), "2024-01-01 00:00:%02d" % (i % 60)
        if i % 97 == 1: sid = "x%d" % i
        if i % 89 == 2: pid = "9999999999"
        if i % 83 == 3: qty = "1.5"
        if i % 79 == 4: ts = "2024-13-45 00:00:00"
        line = "%s,%s,%s,%s" % (sid, pid, qty, ts)
        if i == 500: line = "%s,%s" % (sid, pid)
        if i == 600: line = '%s,"%s"x,%s,%s' % (sid, pid, qty, ts)
        c.write(line + "\n")
        def num(v):
            try: return int(v)
            except ValueError: return v
        j.write(json.dumps({"sale_id": num(sid), "product_id": num(pid),
                            "quantity": float(qty) if "." in qty else int(qty), "ts": ts}) + "\n")
PY
S="schema => 'sale_id int, product_id int, quantity int, ts timestamp'"
for f in csv json; do
  [ $f = csv ] && src="read_csv('$T/s.csv'" || src="read_json('$T/s.jsonl'"
  all=$(q "SELECT * FROM $src, $S, mode => 'dropmalformed')" | wc -l)
  cnt=$(q "SELECT count(*) FROM $src, $S, mode => 'dropmalformed')")
  one=$(q "SELECT count(ts) FROM $src, $S, mode => 'dropmalformed')")
  [ "$all" -lt 1000 ] && ok "$f dropmalformed: SELECT * drops rows ($all left)" || bad "$f: nothing dropped"
  same "$f dropmalformed: count(*) = rows of SELECT *" "$all" "$cnt"
  same "$f dropmalformed: count(ts) (ts read alone) = rows of SELECT *" "$all" "$one"
  e1=$(q "SELECT count(*) FROM $src, $S, mode => 'failfast')" 2>&1 || true)
  e2=$(q "SELECT * FROM $src, $S, mode => 'failfast')" 2>&1 | tail -1 || true)
  e3=$(q "SELECT sum(quantity) FROM $src, $S, mode => 'failfast')" 2>&1 || true)
  [ $f = csv ] && line=3 || line=2 # the csv file has a header line
  [[ "$e1" == *"$f: "*":$line: "* ]] && ok "$f failfast: count(*) fails at line $line" || bad "$f failfast count(*): $e1"
  same "$f failfast: the same error for count(*) and SELECT *" "$e1" "$e2"
  same "$f failfast: the same error for sum(quantity)" "$e1" "$e3"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
