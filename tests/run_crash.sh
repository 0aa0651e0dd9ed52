#!/usr/bin/env bash
# Crash recovery (issue 6): the job of tests/badinput/job_crash.sql (three continuous
# queries: complete-mode view + Delta table, raw rows appended to Delta, watermark
# append-mode windows to Delta) runs with --trigger continuous while a feeder drops sales
# files, and is killed with SIGKILL at random moments (0-300 ms after the start, or after
# the run's first batch began, so kills land during start-up, planning, Delta commits and
# checkpoint writes), then
# restarted on the same checkpoint, over and over. Then 14 more kills at named crash
# points (TB_CRASH_AT, see src/util/crashpoint.c): inside a checkpoint record's append,
# inside a Delta commit, and between a Delta commit and the record that commits the
# batch, each followed by a restart. A final --trigger available-now run
# drains the input. Then the views and the Delta tables must equal the batch answer over
# every input file: no row lost, none repeated.
# Then damaged checkpoint files (truncated, flipped bytes) must give a clear error naming
# the file, and leftover temp files must be ignored.
# State snapshots (issue 9) are taken often here (TB_CKPT_SNAPSHOT_MIN_BYTES: after 3 kB
# of changelogs; 0, every commit, for the crash points inside a snapshot write), so kills
# land during snapshot writes and restarts read snapshot + changelogs.
# Env: TB_BIN, TB_SRCDIR; TB_CRASH_KILLS (default 30), TB_CRASH_FILES (default 60),
# TB_CRASH_SEED (default: random, printed so a failure can be replayed); TB_KEEP=1 keeps
# the work directory.
set -uo pipefail  # no -e: every check runs and is counted
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
JOB=$SRC/tests/badinput/job_crash.sql
KILLS=${TB_CRASH_KILLS:-30}
FILES=${TB_CRASH_FILES:-60}
ROWS=200
SEED=${TB_CRASH_SEED:-$((($$ + $(date +%s)) % 32768))}
RANDOM=$SEED
echo "seed $SEED (TB_CRASH_SEED=$SEED replays the same delays)"
T=$(mktemp -d /tmp/tb-crash-XXXXXX)
FEEDER=
JOBPID=
cleanup() {
  [ -n "$JOBPID" ] && kill -9 "$JOBPID" 2>/dev/null || true
  [ -n "$FEEDER" ] && kill "$FEEDER" 2>/dev/null || true
  if [ -n "${TB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
. "$SRC/tests/lib_check.sh" # ok, bad, check, sane
last_view() { awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$1"; }
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

D=$T/d
mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 100
RUN=("$BIN" run "$JOB" --set DATA="$D" --set MAXF=2 --checkpoint "$D/ckpt" --quiet)
export TB_CKPT_SNAPSHOT_MIN_BYTES=3000

# Feeder: FILES files of ROWS rows, each 4 s of event time after the previous one,
# written under a hidden name and renamed into place, 0-100 ms apart.
start_of() { date -u -d "2024-05-01 12:00:00 UTC + $(($1 * ROWS / 50)) seconds" '+%Y-%m-%d %H:%M:%S'; }
gen_file() { # k: sales file number k (ids k*ROWS+1.., event time after file k-1's)
  "$BIN" generate sales --out "$D/sales" --rows $ROWS --files 1 --first-file "$1" \
    --first-id $(($1 * ROWS + 1)) --seed $((900 + $1)) --products 100 \
    --start "$(start_of "$1")" --rate 50 > /dev/null
}
feeder() {
  for ((k = 0; k < FILES; k++)); do
    gen_file $k
    ms_sleep $((RANDOM % 101))
  done
}
feeder &
FEEDER=$!

# Kill loop.
shopt -s nullglob
# bytes in the checkpoints' logs (grows by one record per batch)
count_offsets() { cat "$D"/ckpt/*/log/* 2> /dev/null | wc -c; }
early=0       # kills before the job had written anything new
for ((i = 1; i <= KILLS; i++)); do
  before=$(count_offsets)
  "${RUN[@]}" --trigger continuous --log-level info > "$T/run$i.out" 2> "$T/run$i.err" &
  JOBPID=$!
  # One kill in four counts from the start (start-up, restore, re-run); the others
  # from the moment the run writes its first new offsets file (a batch has started:
  # start-up takes longer than 300 ms on a loaded machine under ASan).
  if ((i % 4 != 1)); then
    n0=$(count_offsets)
    for ((w = 0; w < 150; w++)); do
      [ "$(count_offsets)" -gt "$n0" ] && break
      kill -0 "$JOBPID" 2> /dev/null || break
      ms_sleep 10
    done
  fi
  ms_sleep $((RANDOM % 301))
  kill -9 "$JOBPID" 2>/dev/null || true
  st=0
  { wait "$JOBPID"; } 2> /dev/null || st=$?
  JOBPID=
  sane "$T/run$i.err" "run $i" || continue
  if [ "$st" != 137 ]; then
    bad "run $i exited by itself with status $st before the kill"; head -20 "$T/run$i.err"
    continue
  fi
  after=$(count_offsets)
  [ "$after" -le "$before" ] && early=$((early + 1))
done
wait "$FEEDER"
FEEDER=

# Deterministic kills at named crash points (TB_CRASH_AT, builds with TB_FAULTS; see
# src/util/crashpoint.c): inside a checkpoint record's append (half of it written: a
# torn record), inside a Delta commit (log entry under its temp name, data files in
# place) and between a Delta commit and the checkpoint record that commits the batch.
# Each run first gets two new input files, so it has batches to run (and to re-run after
# the kill): each of the 3 queries appends a record for its batch, then one for its
# commit at stop, so ckpt-append:1..6 are reached.
# Inside a snapshot write (its first record written, under the temp name), with the
# snapshot whole under its temp name, and renamed but not yet named by the log: a
# snapshot is taken at every commit in those runs (one in flight at a time). Snapshots
# are written by the checkpoint's writer thread while the batches go on, so these kills
# land in that thread, at any point of the batches running meanwhile.
CPS=(delta-commit:1 ckpt-append:3 delta-committed:1 ckpt-snapshot:1 delta-commit:2
     ckpt-append:5 ckpt-snapshot-rename:2 delta-committed:3 ckpt-append:1
     ckpt-snapshot-done:1 delta-committed:2 delta-commit:4 ckpt-append:6 ckpt-snapshot:3)
cp_kills=0
for cp in "${CPS[@]}"; do
  gen_file $FILES; gen_file $((FILES + 1)); FILES=$((FILES + 2))
  st=0
  snap_min=$TB_CKPT_SNAPSHOT_MIN_BYTES
  case $cp in ckpt-snapshot*) snap_min=0 ;; esac
  { TB_CKPT_SNAPSHOT_MIN_BYTES=$snap_min TB_CRASH_AT=$cp "${RUN[@]}" \
      --trigger available-now --log-level info \
      > "$T/cp.out" 2> "$T/cp_$cp.err" || st=$?; } 2> /dev/null  # no "Killed" notice
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
# Temp files left by kills: inside a checkpoint write, a Delta log commit, a data file.
t_ckpt=$(find "$D/ckpt" -name '.*tmp*' | wc -l)
t_log=$(find "$D"/out_*/_delta_log -name '.*tmp*' | wc -l)
t_data=$(find "$D"/out_* -maxdepth 1 -name '.*tmp*' | wc -l)
reruns=$(cat "$T"/run*.err "$T"/cp_*.err 2>/dev/null | grep -c 're-running uncommitted batch')
# A batch's commit rides on the next batch's record (or is appended alone after 1 s
# idle), so a kill leaves the last batch uncommitted unless the job was idle: each
# restart that re-ran one counts (a restart may re-run one batch per query).
mid_batch=$(grep -l 're-running uncommitted batch' "$T"/run*.err | wc -l)
skips=$(cat "$T"/run*.err "$T"/cp_*.err 2>/dev/null | grep -c 'already in the table')
echo "restarts re-ran $reruns uncommitted batches; $skips Delta commits were already there" \
  "(kill between the Delta commit and the batch's commit: skipped by txn)"
echo "kills: $KILLS random + $cp_kills at crash points ($mid_batch restarts re-ran an uncommitted batch, $early kills before any new record);" \
  "temp files left by kills: $t_ckpt checkpoint, $t_log Delta log, $t_data Delta data"
[ "$mid_batch" -ge 3 ] && ok "kills landed inside batches ($mid_batch of $KILLS)" \
  || bad "only $mid_batch of $KILLS kills landed inside a batch (timing too coarse?)"

# Drain and show both views.
SHOW="SELECT 'c' AS v, * FROM sales_by_category UNION ALL
      SELECT 'w', * FROM sales_wm_by_category ORDER BY 1, 2, 3"
st=0
"${RUN[@]}" --trigger available-now --format csv --show "$SHOW" --every '1 hour' \
  > "$T/final.out" 2> "$T/final.err" || st=$?
sane "$T/final.err" "drain run" || true
[ "$st" = 0 ] && ok "drain run after $KILLS kills" \
  || { bad "drain run exited $st"; head -20 "$T/final.err"; }
if [ "$cp_kills" -gt 0 ]; then
  # the runs after crash-point kills (each the next one's start, the drain run last)
  cp_reruns=$(cat "$T"/cp_*.err "$T/final.err" | grep -c 're-running uncommitted batch')
  cp_skips=$(cat "$T"/cp_*.err "$T/final.err" | grep -c 'already in the table')
  [ "$cp_reruns" -ge 1 ] && [ "$cp_skips" -ge 1 ] \
    && ok "after crash-point kills: $cp_reruns uncommitted batches re-run, $cp_skips Delta commits found already made (txn) and skipped" \
    || bad "after crash-point kills: $cp_reruns re-runs, $cp_skips txn skips (expected >= 1 each)"
fi

# The batch answers over every input file.
Q=(query --format csv)
"$BIN" "${Q[@]}" "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect.csv"
nrows=$("$BIN" "${Q[@]}" "SELECT count(*) FROM read_csv('$D/sales')" | tail -1)
[ "$nrows" = $((FILES * ROWS)) ] && ok "input: $nrows rows in $FILES files" \
  || bad "input has $nrows rows, expected $((FILES * ROWS))"

last_view "$T/final.out" > "$T/views.csv"
{ echo "window_start,category,total_quantity"; grep '^c,' "$T/views.csv" | cut -d, -f2-; } \
  > "$T/view_c.csv"
{ echo "window_start,category,total_quantity"; grep '^w,' "$T/views.csv" | cut -d, -f2-; } \
  > "$T/view_w.csv"
check "complete view = batch answer" "$T/expect.csv" "$T/view_c.csv"
check "watermark view (final + open windows) = batch answer" "$T/expect.csv" "$T/view_w.csv"
"$BIN" "${Q[@]}" "SELECT window_start, category, total_quantity
  FROM read_delta('$D/out_complete') ORDER BY 1, 2" > "$T/delta_c.csv"
check "complete Delta table = batch answer" "$T/expect.csv" "$T/delta_c.csv"

# Every raw row exactly once.
"$BIN" "${Q[@]}" "SELECT sale_id, product_id, quantity, ts FROM read_csv('$D/sales')
  ORDER BY sale_id" > "$T/raw_expect.csv"
"$BIN" "${Q[@]}" "SELECT sale_id, product_id, quantity, ts FROM read_delta('$D/out_raw')
  ORDER BY sale_id" > "$T/raw_delta.csv"
check "raw Delta table = every input row once" "$T/raw_expect.csv" "$T/raw_delta.csv"

# The raw view is rebuilt from the committed batches at each restart: every row once.
"${RUN[@]}" --trigger available-now --format csv --every '1 hour' \
  --show "SELECT count(*), count(DISTINCT sale_id), sum(quantity) FROM raw_rows" \
  > "$T/raw_view.out" 2> "$T/raw_view.err"
"$BIN" "${Q[@]}" "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
  FROM read_csv('$D/sales')" > "$T/raw_count.csv"
{ echo "count,distinct,sum"; tail -1 "$T/raw_count.csv"; } > "$T/raw_count1.csv"
{ echo "count,distinct,sum"; tail -1 "$T/raw_view.out"; } > "$T/raw_view1.csv"
check "raw view after a restart = every input row once (count, distinct ids, sum)" \
  "$T/raw_count1.csv" "$T/raw_view1.csv"

# Cascades: views over the streaming views (one over the complete view, one over a plain
# view of the raw view) equal the batch answer after the kills and a restart.
"${RUN[@]}" --trigger available-now --format csv --every '1 hour' \
  --show "SELECT 'p' AS v, category, q, NULL::bigint AS n FROM per_category UNION ALL SELECT 'b', product_id::text, q, n FROM big_by_product UNION ALL SELECT 'r', 'all', sum(quantity), count(*) FROM big_raw ORDER BY 1, 2" \
  > "$T/cascade.out" 2> "$T/cascade.err"
sane "$T/cascade.err" "cascade run" || true
"$BIN" "${Q[@]}" "SELECT 'p' AS v, category, sum(quantity) AS q, NULL::bigint AS n
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 2 UNION ALL
  SELECT 'b', product_id::text, sum(quantity), count(*) FROM read_csv('$D/sales')
  WHERE quantity > 3 GROUP BY 2 UNION ALL
  SELECT 'r', 'all', sum(quantity), count(*) FROM read_csv('$D/sales') WHERE quantity > 3
  ORDER BY 1, 2" > "$T/cascade_expect.csv"
last_view "$T/cascade.out" > "$T/cascade_view.csv"
check "cascades (view over a view, over a plain view of a view, row by row) = batch answer" \
  "$T/cascade_expect.csv" "$T/cascade_view.csv"

# Append mode: the windows closed by the final watermark (max ts - 15 s), once each.
"$BIN" "${Q[@]}" "WITH wm AS (SELECT max(ts) - INTERVAL '15 seconds' AS w FROM read_csv('$D/sales'))
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 HAVING tumble(ts, INTERVAL '10 seconds') + INTERVAL '10 seconds'
    <= (SELECT w FROM wm) ORDER BY 1, 2" > "$T/expect_closed.csv"
"$BIN" "${Q[@]}" "SELECT window_start, category, total_quantity
  FROM read_delta('$D/out_append') ORDER BY 1, 2" > "$T/delta_a.csv"
check "append Delta table = closed windows, once each" "$T/expect_closed.csv" "$T/delta_a.csv"
rows_checked=$(($(wc -l < "$T/expect.csv") * 3 + $(wc -l < "$T/raw_expect.csv") +
                $(wc -l < "$T/expect_closed.csv") - 5))
echo "rows checked: $rows_checked"

# ---- damaged checkpoint files: a clear error naming the file, never a crash.
QDIR=sales_by_category
SEG=log/$(ls "$D/ckpt/$QDIR/log" | sort | tail -1)
flip() { # file offset: xor one byte
  python3 -c "import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, 'rb').read()); o = o % len(b); b[o] ^= 0x5a; open(p, 'wb').write(bytes(b))" "$1" "$2"
}
# frame offsets of the records of a log segment, one per line
recs() { python3 -c "
import struct, sys
d = open(sys.argv[1], 'rb').read(); o = 0
while o + 20 <= len(d):
    print(o); o += 20 + struct.unpack('<I', d[o + 4:o + 8])[0]" "$1"; }
R=($(recs "$D/ckpt/$QDIR/$SEG"))
NR=${#R[@]}
echo "last log segment of $QDIR: $SEG, $NR records"
damaged() { # name relative-file action(flip:OFFSET|truncate|empty) expected-words
  local name=$1 rel=$2 action=$3 words=$4
  local C=$T/c_${name//[^a-z0-9]/_}
  rm -rf "$C"; cp -a "$D" "$C"
  local f=$C/ckpt/$QDIR/$rel
  case $action in
    truncate) truncate -s $(($(stat -c %s "$f") / 2)) "$f" ;;
    empty) : > "$f" ;;
    flip:*) flip "$f" "${action#flip:}" ;;
    remove) rm -f "$f" ;;
  esac
  local st=0
  "$BIN" run "$JOB" --set DATA="$C" --set MAXF=2 --checkpoint "$C/ckpt" --quiet \
    --trigger available-now > "$T/c.out" 2> "$T/c.err" || st=$?
  sane "$T/c.err" "damaged $name" || return 0
  if [ "$st" = 1 ] && grep -q "$f" "$T/c.err" && grep -qiE "$words" "$T/c.err"; then
    ok "damaged $name: exit 1: $(grep -m1 -o "checkpoint: .*" "$T/c.err" | sed "s|$C/||" | cut -c1-110)"
  else
    bad "damaged $name: exit $st, expected 1 and an error naming $f"; head -5 "$T/c.err"
  fi
  rm -rf "$C"
}
damaged "log: flipped byte in the first record" "$SEG" "flip:$((R[0] + 20))" "damaged|checksum"
damaged "log: flipped byte in a record frame" "$SEG" "flip:$((R[NR / 2] + 5))" "damaged|frame"
damaged "log: flipped byte in the state of a record before the last" "$SEG" \
  "flip:$((R[NR - 1] - 30))" "damaged|checksum"
# The snapshot the log names (the newest reference in its records).
SNAP=$(cat "$D/ckpt/$QDIR"/log/* | grep -a -o '"snapshot":[0-9]*' | tail -1 | cut -d: -f2)
if [ -n "$SNAP" ] && [ -f "$D/ckpt/$QDIR/state/snapshot-$SNAP" ]; then
  S=state/snapshot-$SNAP
  damaged "snapshot: flipped byte in a record" "$S" "flip:40" "damaged|checksum"
  damaged "snapshot: flipped byte in its header" "$S" "flip:3" "damaged|header"
  damaged "snapshot: cut short" "$S" truncate "damaged|cut short"
  damaged "snapshot named by the log: missing" "$S" remove "referenced by the log"
else
  bad "no snapshot named by the log of $QDIR (snapshots: $(ls "$D/ckpt/$QDIR/state"))"
fi
damaged "metadata flipped byte" "metadata" flip:100 "damaged|checksum"
damaged "metadata truncated" "metadata" truncate "damaged|torn"

# A record cut short (the job killed in the middle of writing it), and a new empty
# segment (killed right after creating it): not damage. The torn record is dropped with a
# warning and nothing is lost or repeated (no durable record vouches for it, so nothing
# outside the process acted on it).
torn_case() { # name setup-command
  local C=$T/c_torn
  rm -rf "$C"; cp -a "$D" "$C"
  local f=$C/ckpt/$QDIR/$SEG
  eval "$2"
  local st=0
  "$BIN" run "$JOB" --set DATA="$C" --set MAXF=2 --checkpoint "$C/ckpt" --quiet \
    --trigger available-now --format csv --every '1 hour' \
    --show "SELECT * FROM sales_by_category ORDER BY 1, 2" > "$T/c.out" 2> "$T/c.err" || st=$?
  sane "$T/c.err" "$1" || return 0
  last_view "$T/c.out" > "$T/c_view.csv"
  if [ "$st" = 0 ] && diff -q "$T/expect.csv" "$T/c_view.csv" > /dev/null; then
    ok "$1: resumes, view = batch answer ($(grep -c 'dropped a torn record' "$T/c.err") torn record dropped)"
  else
    bad "$1: exit $st or the view differs"; head -5 "$T/c.err"
  fi
  rm -rf "$C"
}
torn_case "log: last record cut short" 'truncate -s -7 "$f"'
torn_case "log: last record's end never written (zeros)" \
  'python3 -c "import sys; p = sys.argv[1]; b = bytearray(open(p, \"rb\").read()); b[-40:] = bytes(40); open(p, \"wb\").write(bytes(b))" "$f"'
torn_case "log: an empty newest segment" ': > "$C/ckpt/$QDIR/log/9999999999999999"'
grep -q 'dropped a torn record' "$T/c.err" 2> /dev/null && bad "empty segment reported as torn" || true
# A flipped byte in the last record: no later record vouches for it, so (as in any
# write-ahead log) it cannot be told from a torn write: dropped, its batch re-run.
torn_case "log: flipped byte in the last record" 'flip "$f" $(($(stat -c %s "$f") - 30))'

# ---- leftover temp files (a writer killed between write and rename) are ignored.
for q in "$D"/ckpt/*/; do
  for sub in offsets log; do
    echo 'garbage' > "$q/$sub/.99.tmp-123"
  done
  echo 'garbage' > "$q/.metadata.tmp-123"
done
echo 'garbage' > "$D/out_complete/_delta_log/.00000000000000099999.json.x.tmp"
"$BIN" generate sales --out "$D/sales" --rows $ROWS --files 1 --first-file $FILES \
  --first-id $((FILES * ROWS + 1)) --seed 1 --products 100 --start "$(start_of $FILES)" \
  --rate 50 > /dev/null
st=0
"${RUN[@]}" --trigger available-now --format csv \
  --show "SELECT * FROM sales_by_category ORDER BY 1, 2" --every '1 hour' \
  > "$T/tmp.out" 2> "$T/tmp.err" || st=$?
sane "$T/tmp.err" "leftover temp files" || true
"$BIN" "${Q[@]}" "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect2.csv"
last_view "$T/tmp.out" > "$T/view2.csv"
if [ "$st" = 0 ]; then
  check "leftover temp files ignored; one more file read" "$T/expect2.csv" "$T/view2.csv"
else
  bad "leftover temp files: exit $st"; head -5 "$T/tmp.err"
fi

# ---- update mode across a restart: the first batch after it sends only changed rows.
U=$T/upd
mkdir -p "$U/in"
printf 'k,v\na,1\nb,2\nc,3\n' > "$U/in/1.csv"
URUN=("$BIN" run "$SRC/tests/badinput/job_update.sql" --set DATA="$U" --checkpoint "$U/ckpt"
      --trigger available-now --quiet)
"${URUN[@]}" > "$T/upd1.out" 2> "$T/upd1.err"
printf 'k,v\na,10\n' > "$U/in/2.csv"
"${URUN[@]}" > "$T/upd2.out" 2> "$T/upd2.err"
sane "$T/upd2.err" "update mode" &&
  if [ "$(grep -c ' | ' "$T/upd2.out")" = 2 ] && grep -q '^a | 11$' "$T/upd2.out"; then
    ok "update-mode sink after a restart: only the changed row (a | 11)"
  else
    bad "update-mode sink after a restart sent:"; cat "$T/upd2.out"
  fi

# ---- deterministic kill points (TB_CRASH_AT="stream-POINT@BATCH", TB_FAULTS builds): SIGKILL right
# after batch K's offsets (carrying K-1's commit) are durable and before it runs; after
# every sink committed K (its own commit pending: rides on K+1's offsets); after a commit
# written alone (at stop). A restart must then give the batch answer, every row once.
# The kills hit the first query (sales_by_category); the others are mid-way too.
KP=$T/kp
mkdir -p "$KP/sales"
"$BIN" generate products --out "$KP/products.parquet" --products 100
for ((k = 0; k < 8; k++)); do
  "$BIN" generate sales --out "$KP/sales" --rows $ROWS --files 1 --first-file $k \
    --first-id $((k * ROWS + 1)) --seed $((700 + k)) --products 100 \
    --start "$(start_of $k)" --rate 50 > /dev/null
done
"$BIN" "${Q[@]}" "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$KP/sales') JOIN read_parquet('$KP/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/kp_expect.csv"
"$BIN" "${Q[@]}" "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
  FROM read_csv('$KP/sales')" > "$T/kp_raw_expect.csv"
kill_at() { # point: run to the kill point, restart, compare
  local point=$1 K=$T/kp_${1//[^a-z0-9]/_}
  rm -rf "$K"; mkdir -p "$K"; cp -a "$KP/sales" "$KP/products.parquet" "$K/"
  local KRUN=("$BIN" run "$JOB" --set DATA="$K" --set MAXF=2 --checkpoint "$K/ckpt" --quiet
              --log-level info)
  local st=0
  # (a subshell: its shell, not ours, reports the SIGKILL, to /dev/null)
  (TB_CRASH_AT="stream-${point%%:*}@${point##*:}" "${KRUN[@]}" --trigger available-now \
    > "$T/kp1.out" 2> "$T/kp1.err"; exit $?) 2> /dev/null || st=$?
  sane "$T/kp1.err" "kill at $point" || return 0
  if [ "$st" != 137 ]; then
    bad "kill at $point: exit $st, expected a SIGKILL (137)"; head -5 "$T/kp1.err"; return 0
  fi
  cp -a "$K" "$K.before" # for the damage check below
  st=0
  "${KRUN[@]}" --trigger available-now --format csv --every '1 hour' \
    --show "SELECT 'c' AS v, * FROM sales_by_category UNION ALL
            SELECT 'w', * FROM sales_wm_by_category ORDER BY 1, 2, 3" \
    > "$T/kp2.out" 2> "$T/kp2.err" || st=$?
  sane "$T/kp2.err" "restart after kill at $point" || return 0
  [ "$st" = 0 ] || { bad "restart after kill at $point: exit $st"; head -5 "$T/kp2.err"; return 0; }
  local reran skipped
  reran=$(grep -c 're-running uncommitted batch' "$T/kp2.err")
  skipped=$(grep -c 'already in the table' "$T/kp2.err")
  last_view "$T/kp2.out" > "$T/kp_views.csv"
  { echo "window_start,category,total_quantity"; grep '^c,' "$T/kp_views.csv" | cut -d, -f2-; } \
    > "$T/kp_view_c.csv"
  { echo "window_start,category,total_quantity"; grep '^w,' "$T/kp_views.csv" | cut -d, -f2-; } \
    > "$T/kp_view_w.csv"
  "$BIN" "${Q[@]}" "SELECT window_start, category, total_quantity
    FROM read_delta('$K/out_complete') ORDER BY 1, 2" > "$T/kp_delta_c.csv"
  "$BIN" "${Q[@]}" "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
    FROM read_delta('$K/out_raw')" > "$T/kp_raw_delta.csv"
  if diff -q "$T/kp_expect.csv" "$T/kp_view_c.csv" > /dev/null &&
     diff -q "$T/kp_expect.csv" "$T/kp_view_w.csv" > /dev/null &&
     diff -q "$T/kp_expect.csv" "$T/kp_delta_c.csv" > /dev/null &&
     diff -q "$T/kp_raw_expect.csv" "$T/kp_raw_delta.csv" > /dev/null; then
    ok "kill at $point, restart: views and Delta tables = batch answer, raw rows once ($reran batches re-run, $skipped Delta commits skipped by txn)"
  else
    bad "kill at $point, restart: results differ"
    diff "$T/kp_expect.csv" "$T/kp_view_c.csv" | head -5
    diff "$T/kp_raw_expect.csv" "$T/kp_raw_delta.csv" | head -5
  fi
}
kill_at offsets:2
kill_at sinks:2
grep -q 'already in the table' "$T/kp2.err" \
  && ok "kill after the sinks: the re-run batch's Delta commit is skipped by its txn" \
  || bad "kill after the sinks: no Delta commit was skipped at restart"
# The kill at sinks:2 left the log of sales_by_category with offsets 0, offsets 1
# (carrying commit 0 and its state), offsets 2 (carrying commit 1): a flipped byte in the
# state carried by the middle record stops the restart, naming the segment.
KD=$T/kp_sinks_2.before
f=$(ls "$KD/ckpt/$QDIR/log/"* | sort | tail -1)
KR=($(recs "$f"))
if [ "${#KR[@]}" = 3 ] && grep -aq '"commit":1' "$f"; then
  flip "$f" $((KR[2] - 30))
  st=0
  "$BIN" run "$JOB" --set DATA="$KD" --set MAXF=2 --checkpoint "$KD/ckpt" --quiet \
    --trigger available-now > "$T/c.out" 2> "$T/c.err" || st=$?
  if [ "$st" = 1 ] && grep -q "$f" "$T/c.err" && grep -qiE "damaged|checksum" "$T/c.err"; then
    ok "damaged state carried by batch 1's offsets: exit 1 naming the log segment"
  else
    bad "damaged state carried by batch 1's offsets: exit $st"; head -5 "$T/c.err"
  fi
else
  bad "after the kill at sinks:2, the log does not hold 3 records ending with commit 1"
fi
kill_at commit:3

# ---- views only (no sink): checkpoint records sync when the job is idle (deferred);
# SIGKILL at random moments must still lose and repeat nothing (the appends are in the
# page cache). Over the same input, its own checkpoint, one batch per file.
VJOB=$SRC/tests/badinput/job_crash_views.sql
VRUN=("$BIN" run "$VJOB" --set DATA="$D" --set MAXF=1 --checkpoint "$D/ckpt_views" --quiet)
VKILLS=$((KILLS / 2 > 5 ? KILLS / 2 : 5))
vok=0
for ((i = 1; i <= VKILLS; i++)); do
  "${VRUN[@]}" --trigger continuous --log-level info > "$T/v$i.out" 2> "$T/v$i.err" &
  JOBPID=$!
  ms_sleep $((RANDOM % 401))
  kill -9 "$JOBPID" 2> /dev/null || true
  st=0
  { wait "$JOBPID"; } 2> /dev/null || st=$?
  JOBPID=
  sane "$T/v$i.err" "views-only run $i" || continue
  [ "$st" = 137 ] && vok=$((vok + 1))
done
[ "$vok" -ge 3 ] && ok "views only: $vok of $VKILLS runs killed mid-way" \
  || bad "views only: only $vok of $VKILLS runs were killed mid-way"
st=0
"${VRUN[@]}" --trigger available-now --format csv --every '1 hour' \
  --show "SELECT 'c' AS v, * FROM sales_by_category UNION ALL
          SELECT 'w', * FROM sales_wm_by_category ORDER BY 1, 2, 3" \
  > "$T/vfinal.out" 2> "$T/vfinal.err" || st=$?
sane "$T/vfinal.err" "views-only drain" || true
last_view "$T/vfinal.out" > "$T/vviews.csv"
{ echo "window_start,category,total_quantity"; grep '^c,' "$T/vviews.csv" | cut -d, -f2-; } \
  > "$T/vview_c.csv"
{ echo "window_start,category,total_quantity"; grep '^w,' "$T/vviews.csv" | cut -d, -f2-; } \
  > "$T/vview_w.csv"
"$BIN" "${Q[@]}" "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/vexpect.csv"
check "views only, after $VKILLS kills: complete view = batch answer" "$T/vexpect.csv" "$T/vview_c.csv"
check "views only: watermark view = batch answer" "$T/vexpect.csv" "$T/vview_w.csv"
"${VRUN[@]}" --trigger available-now --format csv --every '1 hour' \
  --show "SELECT count(*), count(DISTINCT sale_id), sum(quantity) FROM raw_rows" \
  > "$T/vraw.out" 2> "$T/vraw.err"
{ echo "count,distinct,sum"; tail -1 "$T/vraw.out"; } > "$T/vraw1.csv"
"$BIN" "${Q[@]}" "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
  FROM read_csv('$D/sales')" > "$T/vraw_count.csv"
{ echo "count,distinct,sum"; tail -1 "$T/vraw_count.csv"; } > "$T/vraw_expect.csv"
check "views only: raw view = every input row once" "$T/vraw_expect.csv" "$T/vraw1.csv"
[ -n "$(ls "$D/ckpt_views/sales_by_category/log" 2> /dev/null)" ] \
  && ok "views only: the checkpoint log exists" || bad "views only: no checkpoint log"

echo "$pass passed, $fail failed (seed $SEED, $KILLS kills, $rows_checked rows checked)"
[ "$fail" = 0 ]
