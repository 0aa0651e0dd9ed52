#!/usr/bin/env bash
# Exactly once into PostgreSQL across kills (issue 12, point 2). The job of
# tests/pg/job_pg.sql (products read from PostgreSQL; results written in complete,
# update and append modes) runs with --trigger continuous and a checkpoint while a
# feeder drops sales files, and is killed with SIGKILL at random moments, over and over
# (TB_PG_KILLS, default 20). During some runs the job's PostgreSQL connections are
# killed with pg_terminate_backend, during others the server is restarted (immediate
# stop, start): the sinks reconnect and send the batch again. Then kills at named crash
# points: rows sent but not committed (pg-copied), committed in PostgreSQL but not in
# the checkpoint (pg-committed: the re-run batch finds its progress row and writes
# nothing). A final available-now run drains the input; then each PostgreSQL table must
# equal the batch answer over every input file.
# Env: TB_BIN, TB_SRCDIR; TB_PG_KILLS, TB_PG_FILES (default 30), TB_CRASH_SEED (printed);
# TB_KEEP=1 keeps the work directory.
set -uo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
KILLS=${TB_PG_KILLS:-20}
FILES=${TB_PG_FILES:-30}
ROWS=200
SEED=${TB_CRASH_SEED:-$((($$ + $(date +%s)) % 32768))}
RANDOM=$SEED
echo "seed $SEED (TB_CRASH_SEED=$SEED replays the same delays)"
T=$(mktemp -d /tmp/tb-pgcrash-XXXXXX)
FEEDER=
JOBPID=
cleanup() {
  [ -n "$JOBPID" ] && kill -9 "$JOBPID" 2> /dev/null || true
  [ -n "$FEEDER" ] && kill "$FEEDER" 2> /dev/null || true
  if [ -n "${TB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
. "$SRC/tests/lib_pg.sh"
pg_start || exit 1
. "$SRC/tests/lib_check.sh"
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

D=$T/d
mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 100
"$BIN" query "COPY (SELECT * FROM read_parquet('$D/products.parquet')) TO '$D/products.csv' (FORMAT csv, HEADER true)" > /dev/null
pg_psql -c "CREATE TABLE products (product_id int PRIMARY KEY, category text)" \
  -c "\\copy products FROM '$D/products.csv' CSV HEADER" > /dev/null
RUN=("$BIN" run "$SRC/tests/pg/job_pg.sql" --set DSN="$PG_DSN" --set DATA="$D" --set MAXF=2
     --set REFRESH='every batch' --set RETRIES=10 --checkpoint "$D/ckpt" --quiet)

start_of() { date -u -d "2024-05-01 12:00:00 UTC + $(($1 * ROWS / 50)) seconds" '+%Y-%m-%d %H:%M:%S'; }
gen_file() {
  "$BIN" generate sales --out "$D/sales" --rows $ROWS --files 1 --first-file "$1" \
    --first-id $(($1 * ROWS + 1)) --seed $((900 + $1)) --products 100 \
    --start "$(start_of "$1")" --rate 50 > /dev/null
}
feeder() {
  for ((k = 0; k < FILES; k++)); do
    gen_file $k
    ms_sleep $((RANDOM % 151))
  done
}
feeder &
FEEDER=$!

shopt -s nullglob
count_offsets() { cat "$D"/ckpt/*/log/* 2> /dev/null | wc -c; }
terminated=0
restarts=0
for ((i = 1; i <= KILLS; i++)); do
  "${RUN[@]}" --trigger continuous --log-level info > "$T/run$i.out" 2> "$T/run$i.err" &
  JOBPID=$!
  if ((i % 4 != 1)); then # wait for the run's first batch (start-up is slow under ASan)
    n0=$(count_offsets)
    for ((w = 0; w < 150; w++)); do
      [ "$(count_offsets)" -gt "$n0" ] && break
      kill -0 "$JOBPID" 2> /dev/null || break
      ms_sleep 10
    done
  fi
  if ((i % 5 == 2)); then
    ms_sleep $((RANDOM % 200))
    k=$(pg_kill_backends 2> /dev/null)
    terminated=$((terminated + ${k:-0}))
  elif ((i % 5 == 4)); then
    ms_sleep $((RANDOM % 200))
    pg_restart_server && restarts=$((restarts + 1))
  fi
  ms_sleep $((RANDOM % 301))
  kill -9 "$JOBPID" 2> /dev/null || true
  st=0
  { wait "$JOBPID"; } 2> /dev/null || st=$?
  JOBPID=
  sane "$T/run$i.err" "run $i" || continue
  if [ "$st" != 137 ]; then
    bad "run $i exited by itself with status $st before the kill"; tail -5 "$T/run$i.err"
  fi
done
wait "$FEEDER"
FEEDER=
ok "$KILLS random SIGKILLs; $terminated backends terminated by pg_terminate_backend; $restarts server restarts mid-run"
retries=$(cat "$T"/run*.err | grep -c 'retrying')
[ "$retries" -ge 1 ] && ok "sinks or reads retried $retries times after lost connections" \
  || bad "no retry seen after terminated backends and restarts"

# Named crash points (TB_FAULTS builds): each run first gets two new files.
CPS=(pg-copied:1 pg-committed:1 pg-copied:2 pg-committed:3 pg-committed:2 pg-copied:4)
cp_kills=0
for cp in "${CPS[@]}"; do
  gen_file $FILES; gen_file $((FILES + 1)); FILES=$((FILES + 2))
  st=0
  { TB_CRASH_AT=$cp "${RUN[@]}" --trigger available-now --log-level info \
      > /dev/null 2> "$T/cp_$cp.err" || st=$?; } 2> /dev/null
  sane "$T/cp_$cp.err" "crash point $cp" || continue
  if [ "$st" = 137 ] && grep -q "^crash point $cp\$" "$T/cp_$cp.err"; then
    cp_kills=$((cp_kills + 1))
  elif [ "$st" = 0 ] && ! grep -q "^crash point" "$T/cp_$cp.err"; then
    echo "SKIP crash points: this build has no TB_FAULTS (TB_CRASH_AT ignored)"; break
  else
    bad "crash point $cp: exit $st"; tail -5 "$T/cp_$cp.err"
  fi
done
[ "$cp_kills" = 0 ] || [ "$cp_kills" = ${#CPS[@]} ] \
  && ok "killed at named crash points: $cp_kills (${CPS[*]})" \
  || bad "only $cp_kills of ${#CPS[@]} crash points reached"

st=0
"${RUN[@]}" --trigger available-now --log-level info > /dev/null 2> "$T/final.err" || st=$?
sane "$T/final.err" "drain run" || true
[ "$st" = 0 ] && ok "drain run" || { bad "drain run exited $st"; tail -5 "$T/final.err"; }
skips=$(cat "$T"/run*.err "$T"/cp_*.err "$T/final.err" | grep -c 'already in the table (progress row)')
reruns=$(cat "$T"/run*.err "$T"/cp_*.err "$T/final.err" | grep -c 're-running uncommitted batch')
if [ "$cp_kills" -gt 0 ]; then
  [ "$skips" -ge 1 ] && ok "re-run batches found in PostgreSQL by their progress row and skipped: $skips ($reruns uncommitted batches re-run)" \
    || bad "no re-run batch was skipped by its progress row ($reruns re-runs)"
fi

# The batch answers over every input file, against the tables (read by psql).
nrows=$("$BIN" query --format csv "SELECT count(*) FROM read_csv('$D/sales')" | tail -1)
[ "$nrows" = $((FILES * ROWS)) ] && ok "input: $nrows rows in $FILES files" \
  || bad "input has $nrows rows, expected $((FILES * ROWS))"
"$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect_c.csv"
"$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity, count(*) AS n
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect_u.csv"
"$BIN" query --format csv "SELECT sale_id, product_id, quantity, ts FROM read_csv('$D/sales')
  ORDER BY 1" > "$T/expect_r.csv"
pg_psql --csv -c "SELECT window_start, category, total_quantity FROM out_complete ORDER BY 1, 2" > "$T/got_c.csv"
pg_psql --csv -c "SELECT window_start, category, total_quantity, n FROM out_update ORDER BY 1, 2" > "$T/got_u.csv"
pg_psql --csv -c "SELECT sale_id, product_id, quantity, ts FROM out_raw ORDER BY 1" > "$T/got_r.csv"
check "complete mode table = batch answer" "$T/expect_c.csv" "$T/got_c.csv"
check "update mode table = batch answer" "$T/expect_u.csv" "$T/got_u.csv"
check "append mode table = every input row exactly once" "$T/expect_r.csv" "$T/got_r.csv"
dups=$(pg_psql -At -c "SELECT count(*) - count(DISTINCT sale_id) FROM out_raw")
[ "$dups" = 0 ] && ok "no sale_id twice in the append table" || bad "$dups repeated rows"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
