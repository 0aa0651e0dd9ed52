#!/usr/bin/env bash
# run_sql_listagg_stream.sh - list aggregates and approx_count_distinct (issue 13 point
# 2) as a continuous query's state: a files stream grouped with string_agg (ORDER BY),
# percentile_cont, mode and approx_count_distinct, stopped and resumed from its
# checkpoint between two files. After the restart the view holds both files' rows (the
# state came back from the checkpoint) and equals the batch answer over the same files.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at build/tributary}
T=$(mktemp -d /tmp/tb-listagg-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/in"
cat > "$T/job.sql" <<'SQL'
CREATE TABLE s (k text, v int) WITH (connector = 'files', format = 'csv', path = '${DATA}/in');
CREATE MATERIALIZED VIEW t AS SELECT k, string_agg(v::text, ',' ORDER BY v) AS vs,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS med, mode() WITHIN GROUP (ORDER BY v) AS mo,
  approx_count_distinct(v) AS nd FROM s GROUP BY k;
CREATE TABLE out_upd (k text, vs text, med double precision, mo int, nd bigint)
  WITH (connector = 'console', output_mode = 'update');
INSERT INTO out_upd SELECT * FROM t;
SQL
run() { "$BIN" run "$T/job.sql" --set DATA="$T" --checkpoint "$T/ckpt" --trigger available-now --quiet 2> "$T/err"; }
printf 'k,v\na,3\na,1\nb,5\n' > "$T/in/f1.csv"
first=$(run) || { cat "$T/err"; echo "FAIL: first run"; exit 1; }
printf 'k,v\na,2\nb,5\nb,7\nc,9\n' > "$T/in/f2.csv"
second=$(run) || { cat "$T/err"; echo "FAIL: second run"; exit 1; }
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/err"; then cat "$T/err"; exit 1; fi
want=$'a | 1,2,3 | 2 | 1 | 3\nb | 5,5,7 | 5 | 5 | 2\nc | 9 | 9 | 9 | 1'
got=$(printf '%s\n' "$second" | grep -E '^[abc] \|' | sort)
batch=$("$BIN" query --format csv "SELECT k, string_agg(v::text, ',' ORDER BY v), percentile_cont(0.5) WITHIN GROUP (ORDER BY v), mode() WITHIN GROUP (ORDER BY v), approx_count_distinct(v) FROM read_csv('$T/in') GROUP BY k ORDER BY k" | tail -n +2 | sed 's/"//g; s/,\([0-9]*\),\([0-9]*\),\([0-9]*\)$/ | \1 | \2 | \3/; s/^\([a-z]\),/\1 | /')
echo "first run:"; printf '%s\n' "$first" | grep -E '^[abc] \|' || true
echo "after the restart:"; printf '%s\n' "$got"
if [ "$got" != "$want" ]; then echo "FAIL: resumed view"; echo "want:"; echo "$want"; exit 1; fi
if [ "$batch" != "$want" ]; then echo "FAIL: batch answer differs:"; echo "$batch"; exit 1; fi
echo "ok: the resumed state and the batch answer agree"
