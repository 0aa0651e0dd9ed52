#!/usr/bin/env bash
# Serving benchmark (issue 11 point 8), part of `make bench` (or alone:
# bash bench/serve_pgbench.sh). pgbench with a custom script selecting the consolidated
# view (SELECT category, sum(total_quantity) ... GROUP BY 1 ORDER BY 2 DESC), 1 and 16
# clients, DURATION seconds each:
#   - against Tributary serving the reference job's view while the job ingests files
#     (one file per batch, back to back) and again once it is idle;
#   - against a real PostgreSQL 15 (started here, tests/lib_pg.sh) holding the same
#     rows (the view's rows copied over through /api/query?format=csv);
# and the job's ingest rate (rows/s from its progress records) without and with the
# 1- and 16-client loads: ROUNDS pairs of windows (unloaded, loaded) alternate for each
# client count, and the medians are compared (issue 11 point 8: a drop under 20%).
# Prints a markdown table with the load average. Noisy machine: compare within one run
# only. Env: TB_BIN (default build/release/tributary), FILES (2000), ROWS (5000 per
# file), DURATION (5), ROUNDS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${TB_BIN:-build/release/tributary}")
FILES=${FILES:-2000}
ROWS=${ROWS:-5000}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-2}
command -v pgbench > /dev/null || { echo "serve_pgbench: pgbench missing" >&2; exit 1; }
export TB_SRCDIR=$PWD
. tests/lib_pg.sh
W=$(mktemp -d /tmp/tb-bench-serve-XXXXXX)
JOB_PID=
cleanup() { [ -n "$JOB_PID" ] && kill "$JOB_PID" 2> /dev/null; rm -rf "$W"; }
trap cleanup EXIT
pg_start

mkdir -p "$W/sales" "$W/stage"
"$BIN" generate products --out "$W/products.parquet" --products 1000 > /dev/null
"$BIN" generate sales --out "$W/stage" --rows $((FILES * ROWS)) --files "$FILES" --seed 3 \
  --rate 20000 > /dev/null
# every file is there at start: the job reads one per batch, back to back, so its
# ingest rate is its own (not a feeder's) and pgbench load shows in it
mv "$W/stage"/* "$W/sales/"
cat > "$W/job.sql" <<SQL
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '$W/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '$W/sales', max_files_per_trigger = 1);
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id) GROUP BY 1, 2;
SQL
"$BIN" run "$W/job.sql" --pg 0 --http 0 --trigger continuous --quiet \
  --progress "$W/progress.jsonl" 2> "$W/run.log" &
JOB_PID=$!
for i in $(seq 1 100); do grep -q '^serving HTTP' "$W/run.log" && break; sleep 0.1; done
PGP=$(sed -n 's/^serving PostgreSQL protocol on [0-9.]*:\([0-9]*\).*/\1/p' "$W/run.log")
HTTP=$(sed -n 's|^serving HTTP on http://\([0-9.:]*\)/.*|\1|p' "$W/run.log")
echo "SELECT category, sum(total_quantity) FROM sales_by_category GROUP BY 1 ORDER BY 2 DESC;" \
  > "$W/q.sql"

# rows ingested per second between two instants (progress records' numInputRows)
rows_now() { python3 -c "
import json,sys
n=0
for l in open('$W/progress.jsonl'):
    n+=json.loads(l)['numInputRows']
print(n)"; }
rate() { # seconds -> rows/s over that window, no query load
  local a b
  a=$(rows_now); sleep "$1"; b=$(rows_now)
  echo $(((b - a) / $1))
}
tps() { # port clients -> tps (PostgreSQL's user and database exist on both servers)
  pgbench -n -h 127.0.0.1 -p "$1" -U postgres -M prepared -c "$2" -j "$([ "$2" -gt 1 ] && echo 2 || echo 1)" \
    -T "$DURATION" -f "$W/q.sql" postgres 2> "$W/pgbench.err" |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | cut -d. -f1
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
loaded() { # clients -> "q/s rows/s" of one loaded window
  local a b t
  a=$(rows_now); t=$(tps "$PGP" "$1"); b=$(rows_now)
  echo "$t $(((b - a) / DURATION))"
}
sleep 1
# unloaded and loaded windows alternate, ROUNDS pairs per client count (the input must
# last through all of them); medians of each
rounds() { # clients -> sets t, rate (loaded), idle (unloaded), log of every window
  local r x q=() l=() u=()
  for ((r = 0; r < ROUNDS; r++)); do
    u+=("$(rate "$DURATION")")
    x=$(loaded "$1")
    q+=("${x% *}"); l+=("${x#* }")
  done
  t=$(printf '%s\n' "${q[@]}" | median)
  rate=$(printf '%s\n' "${l[@]}" | median)
  idle=$(printf '%s\n' "${u[@]}" | median)
  windows+="$1 client(s): unloaded ${u[*]} rows/s, loaded ${l[*]} rows/s, ${q[*]} q/s; "
}
windows=
load_during=$(cut -d' ' -f1-3 /proc/loadavg)
# 16 clients first: the issue's load; the input is more likely to last through it
rounds 16; t16=$t; rate16=$rate; idle_rate2=$idle
rounds 1; t1=$t; rate1=$rate; idle_rate=$idle
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
wait_done() { # every row ingested: the job is idle from here on
  for i in $(seq 1 1500); do [ "$(rows_now)" -ge $((FILES * ROWS)) ] && return; sleep 0.2; done
  echo "serve_pgbench: the job did not ingest every file" >&2
}
[ "$(rows_now)" -lt $((FILES * ROWS)) ] || echo "serve_pgbench: WARNING: the input ran out during the loaded phases (raise FILES)" >&2
wait_done
sleep 1
batches=$(wc -l < "$W/progress.jsonl")
# the same rows in PostgreSQL
psql -X -q -c "CREATE TABLE sales_by_category (window_start timestamp, category text, total_quantity bigint)"
curl -s "http://$HTTP/api/query?format=csv&sql=SELECT%20*%20FROM%20sales_by_category" |
  psql -X -q -c "\copy sales_by_category FROM STDIN (FORMAT csv, HEADER)"
n_tb=$(curl -s "http://$HTTP/api/query?format=csv&sql=SELECT%20count(*)%20FROM%20sales_by_category" | tail -1)
n_pg=$(psql -X -At -c "SELECT count(*) FROM sales_by_category")
cmp <(psql -X -At -h 127.0.0.1 -p "$PGP" -U c -d t -f "$W/q.sql") <(psql -X -At -f "$W/q.sql") ||
  echo "serve_pgbench: WARNING: the answers differ" >&2
i1=$(tps "$PGP" 1); i16=$(tps "$PGP" 16)
p1=$(tps "$PGPORT" 1); p16=$(tps "$PGPORT" 16)
echo "### Serving: pgbench (-M prepared, ${DURATION} s each) on the consolidated view"
echo
echo "view rows: $n_tb in Tributary, $n_pg in PostgreSQL 15; $batches batches of $ROWS rows;" \
  "$(nproc) cores; load (uptime) $load_during when the ingest windows began, $load_after" \
  "after them, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| clients | Tributary, job ingesting (q/s) | Tributary, job idle (q/s) | PostgreSQL 15 (q/s) | ingest rows/s without load | ingest rows/s under this load | drop |"
echo "|---|---|---|---|---|---|---|"
drop() { python3 -c "print(f'{100*(1-$2/$1):.0f}%' if $1 > 0 else '-')"; }
echo "| 1 | $t1 | $i1 | $p1 | $idle_rate | $rate1 | $(drop "$idle_rate" "$rate1") |"
echo "| 16 | $t16 | $i16 | $p16 | $idle_rate2 | $rate16 | $(drop "$idle_rate2" "$rate16") |"
echo
echo "ingest windows ($ROUNDS pairs, ${DURATION} s each, medians above): $windows"
