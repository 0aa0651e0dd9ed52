#!/usr/bin/env bash
# The PostgreSQL sink against psql on the same server, same rows, same run (issue 12,
# point 5). Called by run.sh (PARTS=pg runs only this), or alone:
#   TB_BIN=build/release/tributary bash bench/pg.sh
# Starts Debian's PostgreSQL 15 in a temporary directory (tests/lib_pg.sh; fsync=off for
# both sides) and measures, REPEAT times each, interleaved (medians printed):
#   (pg-append): PG_ROWS (default 1,000,000) rows of a CSV file through a Tributary job
#       (files source -> postgres sink, a pipeline without a view: INSERT INTO out SELECT
#       ... FROM stream; append mode: COPY FROM STDIN) against
#       psql -c "\copy t FROM FILE CSV HEADER" of the same file into the same table
#       layout. Target: Tributary >= 0.8x psql's rows/s.
#   (pg-upsert): PG_BATCHES (default 5) batches of PG_KEYS (default 100,000) changed rows:
#       a Tributary update-mode aggregate (GROUP BY k: every batch changes every key,
#       upserted with a stage table + INSERT ... ON CONFLICT) against psql running the
#       same upserts as INSERT ... VALUES (1,000 rows per statement) ON CONFLICT (k) DO
#       UPDATE, one transaction per batch.
# Times are wall clock of the whole command (Tributary: start, read CSV, plan, sink,
# checkpoint; psql: start, read file, send). The Tributary "sink ms" column is the
# sinks' share from its progress records (durationMs.sinks).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
BIN=$(realpath "${TB_BIN:-../build/release/tributary}")
ROWS=${PG_ROWS:-1000000}
KEYS=${PG_KEYS:-100000}
BATCHES=${PG_BATCHES:-5}
REPEAT=${REPEAT:-3}
[ -x "$BIN" ] || { echo "pg.sh: no binary at $BIN" >&2; exit 1; }
W=$(mktemp -d /tmp/tb-pgbench-XXXXXX)
cleanup_w() { rm -rf "$W"; }
trap cleanup_w EXIT
. "$ROOT/tests/lib_pg.sh"
pg_start

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
sink_ms() { python3 -c "import json,sys; print(round(sum(json.loads(l)['durationMs']['sinks'] for l in open(sys.argv[1]))))" "$1"; }

# pg-append data: one CSV file of ROWS sales rows
mkdir -p "$W/f/in"
"$BIN" generate sales --out "$W/f/in" --rows "$ROWS" --files 1 --seed 3 --rate 20000 > /dev/null
F=$(ls "$W"/f/in/*.csv)
cat > "$W/f/job.sql" <<SQL
CREATE TABLE s (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '$W/f/in');
CREATE TABLE out_f (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'out_f');
INSERT INTO out_f SELECT sale_id, product_id, quantity, ts FROM s;
SQL
tb_f=() ; ps_f=() ; sk_f=()
for ((r = 0; r < REPEAT; r++)); do
  pg_psql -c "DROP TABLE IF EXISTS out_f, ref_f, tributary_progress" \
    -c "CREATE TABLE ref_f (sale_id int, product_id int, quantity int, ts timestamp)" > /dev/null 2>&1
  t0=$(now_ms)
  pg_psql -c "\\copy ref_f FROM '$F' CSV HEADER" > /dev/null
  ps_f+=($(($(now_ms) - t0)))
  rm -rf "$W/f/ckpt" "$W/f/progress.jsonl"
  t0=$(now_ms)
  "$BIN" run "$W/f/job.sql" --trigger available-now --checkpoint "$W/f/ckpt" --quiet \
    --progress "$W/f/progress.jsonl" > /dev/null
  tb_f+=($(($(now_ms) - t0)))
  sk_f+=($(sink_ms "$W/f/progress.jsonl"))
done
same_f=$(pg_psql -At -c "SELECT (SELECT count(*) FROM out_f) = $ROWS AND NOT EXISTS (
  (SELECT * FROM out_f EXCEPT ALL SELECT * FROM ref_f) UNION ALL (SELECT * FROM ref_f EXCEPT ALL SELECT * FROM out_f))")

# pg-upsert data: BATCHES files of KEYS rows, key k once per file; quantity (k * 7 + b) % 100
mkdir -p "$W/g/in"
for ((b = 0; b < BATCHES; b++)); do
  awk -v n="$KEYS" -v b="$b" 'BEGIN { print "k,quantity"; for (k = 0; k < n; k++) print k "," (k * 7 + b) % 100 }' \
    > "$W/g/in/part-$b.csv"
done
cat > "$W/g/job.sql" <<SQL
CREATE TABLE s (k int, quantity int)
  WITH (connector = 'files', format = 'csv', path = '$W/g/in', max_files_per_trigger = '1');
CREATE MATERIALIZED VIEW v AS SELECT k, sum(quantity) AS q, count(*) AS n FROM s GROUP BY k;
CREATE TABLE out_g (k int, q bigint, n bigint)
  WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'out_g', output_mode = 'update', key = 'k');
INSERT INTO out_g SELECT * FROM v;
SQL
# psql's equivalent: the same cumulative rows, 1,000 per INSERT, a transaction per batch
awk -v n="$KEYS" -v nb="$BATCHES" 'BEGIN {
  for (b = 0; b < nb; b++) {
    print "BEGIN;";
    for (k = 0; k < n; k++) {
      q = 0; for (i = 0; i <= b; i++) q += (k * 7 + i) % 100;
      printf "%s(%d,%d,%d)", (k % 1000 == 0 ? "INSERT INTO ref_g (k, q, n) VALUES " : ","), k, q, b + 1;
      if (k % 1000 == 999 || k == n - 1) print " ON CONFLICT (k) DO UPDATE SET q = EXCLUDED.q, n = EXCLUDED.n;";
    }
    print "COMMIT;";
  } }' > "$W/g/psql.sql"
tb_g=() ; ps_g=() ; sk_g=()
for ((r = 0; r < REPEAT; r++)); do
  pg_psql -c "DROP TABLE IF EXISTS out_g, ref_g, tributary_progress" \
    -c "CREATE TABLE ref_g (k int PRIMARY KEY, q bigint, n bigint)" > /dev/null 2>&1
  t0=$(now_ms)
  pg_psql -f "$W/g/psql.sql" > /dev/null
  ps_g+=($(($(now_ms) - t0)))
  rm -rf "$W/g/ckpt" "$W/g/progress.jsonl"
  t0=$(now_ms)
  "$BIN" run "$W/g/job.sql" --trigger available-now --checkpoint "$W/g/ckpt" --quiet \
    --progress "$W/g/progress.jsonl" > /dev/null
  tb_g+=($(($(now_ms) - t0)))
  sk_g+=($(sink_ms "$W/g/progress.jsonl"))
done
same_g=$(pg_psql -At -c "SELECT (SELECT count(*) FROM out_g) = $KEYS AND NOT EXISTS (
  (SELECT * FROM out_g EXCEPT SELECT * FROM ref_g) UNION ALL (SELECT * FROM ref_g EXCEPT SELECT * FROM out_g))")

mt_f=$(printf '%s\n' "${tb_f[@]}" | median); mp_f=$(printf '%s\n' "${ps_f[@]}" | median)
ms_f=$(printf '%s\n' "${sk_f[@]}" | median)
mt_g=$(printf '%s\n' "${tb_g[@]}" | median); mp_g=$(printf '%s\n' "${ps_g[@]}" | median)
ms_g=$(printf '%s\n' "${sk_g[@]}" | median)
UP=$((KEYS * BATCHES))
rate() { awk -v r="$1" -v ms="$2" 'BEGIN { printf "%.0f", r / (ms / 1000) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
yn() { [ "$1" = t ] && echo yes || echo NO; }
echo "PostgreSQL $(pg_psql -At -c 'SHOW server_version'), fsync=off, REPEAT=$REPEAT (medians), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | rows | Tributary ms (sink ms) | psql ms | Tributary rows/s | psql rows/s | Tributary/psql | target | same rows |"
echo "|---|---|---|---|---|---|---|---|---|"
r_f=$(ratio "$mt_f" "$mp_f")
t_f=$(awk -v r="$r_f" 'BEGIN { print (r >= 0.8 ? ">= 0.8x met" : ">= 0.8x NOT met") }')
echo "| (pg-append) COPY vs psql \\copy | $ROWS | $mt_f ($ms_f) | $mp_f | $(rate "$ROWS" "$mt_f") | $(rate "$ROWS" "$mp_f") | **${r_f}x** | $t_f | $(yn "$same_f") |"
echo "| (pg-upsert) $BATCHES batches of $KEYS changed rows vs psql INSERT ... ON CONFLICT | $UP | $mt_g ($ms_g) | $mp_g | $(rate "$UP" "$mt_g") | $(rate "$UP" "$mp_g") | **$(ratio "$mt_g" "$mp_g")x** | (reported) | $(yn "$same_g") |"
echo
echo "runs: (pg-append) Tributary ${tb_f[*]} ms, psql ${ps_f[*]} ms; (pg-upsert) Tributary ${tb_g[*]} ms, psql ${ps_g[*]} ms"
