#!/usr/bin/env bash
# Kafka sink exactly once (issue 10 point 4), shown on librdkafka's mock cluster (3
# brokers, hosted by tests/kafka/mock_cluster.c): the job of tests/kafka/job_sink.sql
# (a files stream into a Kafka topic row by row, and a complete-mode aggregate into a
# keyed topic) runs with --trigger continuous while a feeder drops sales files, and is
# killed with SIGKILL 20 times at random moments (0.2-1.2 s after each start, so kills
# land while it produces), plus kills at named crash points: in the middle of a batch's
# messages (kafka-produce:N) and after the sinks committed a batch but before the
# checkpoint did (stream-sinks@N, so the whole batch is re-run). A final available-now
# run drains the input. Then, read back with kcat:
#   out_raw: every sale id of every file exactly once, and no (query, batch, seq) twice;
#   out_agg: in every batch, sequence numbers 0..n-1 each exactly once; the last batch
#            equals the batch answer over all files.
# SKIPs (77) when kcat or the mock cluster host is missing; fails when the cluster does
# not start. Env: TB_BIN, TB_BUILD; TB_KAFKA_KILLS (20), TB_KAFKA_SEED; TB_KEEP=1.
set -uo pipefail
. "${TB_SRCDIR:?}/tests/lib_kafka.sh"
KILLS=${TB_KAFKA_KILLS:-20}
FILES=30
ROWS=100
SEED=${TB_KAFKA_SEED:-$((($$ + $(date +%s)) % 32768))}
RANDOM=$SEED
echo "seed $SEED (TB_KAFKA_SEED=$SEED replays the same delays)"
kafka_setup sink
kafka_mock --topic out_raw:4 --topic out_agg:3

D=$T/d
mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 100
RUN=("$BIN" run "$SRC/tests/kafka/job_sink.sql" --set DATA="$D" --set BROKERS="$BROKERS"
     --checkpoint "$D/ckpt" --quiet)
gen_file() {
  "$BIN" generate sales --out "$D/sales" --rows $ROWS --files 1 --first-file "$1" \
    --first-id $(($1 * ROWS + 1)) --seed $((700 + $1)) --products 100 > /dev/null
}
feeder() {
  for ((k = 0; k < FILES; k++)); do
    gen_file $k
    ms_sleep $((100 + RANDOM % 200))
  done
}
feeder &
FEEDER=$!

run_bg() { # extra env... : start the job in the background
  env "$@" "${RUN[@]}" --trigger continuous >> "$T/job.out" 2>> "$T/job.err" &
  JOBPID=$!
}
kills=0
for ((i = 0; i < KILLS; i++)); do
  run_bg
  ms_sleep $((200 + RANDOM % 1000))
  kill -9 "$JOBPID" 2> /dev/null && kills=$((kills + 1))
  wait "$JOBPID" 2> /dev/null
  JOBPID=
done
wait "$FEEDER"
FEEDER=
[ "$kills" -ge "$KILLS" ] && ok "$kills random SIGKILLs while producing" || bad "only $kills kills landed"
# Named crash points (TB_FAULTS builds): in the middle of a batch's messages, and after
# the sinks committed a batch but before its checkpoint commit. New files first, so
# that each has a batch to land in.
crash=0
for cp in kafka-produce:30 stream-sinks@$((RANDOM % 3 + 1)) kafka-produce:150; do
  gen_file $((FILES + crash)); gen_file $((FILES + crash + 10))
  crash=$((crash + 1))
  TB_CRASH_AT=$cp "${RUN[@]}" --trigger available-now >> "$T/job.out" 2> "$T/crash.err"
  rc=$?
  if grep -q "crash point" "$T/crash.err"; then
    ok "killed at crash point $cp (exit $rc)"
  elif [ $rc -eq 0 ]; then
    echo "note: crash point $cp not reached (no TB_FAULTS, or no such batch)"
  else
    bad "crash point $cp: exit $rc"; tail -5 "$T/crash.err"
  fi
  cat "$T/crash.err" >> "$T/job.err"
done
NFILES=$((FILES + 10 + crash))
# Drain everything.
if "${RUN[@]}" --trigger available-now >> "$T/job.out" 2>> "$T/job.err"; then
  ok "final available-now run"
else
  bad "final run failed"; tail -20 "$T/job.err"
fi
sane "$T/job.err" "job"
grep -E "error" "$T/job.err" | grep -v "crash point" | head -5

# ---- out_raw: every sale id exactly once
kcat -C -b "$BROKERS" -t out_raw -e -q -f '%h|%s\n' > "$T/raw.txt" 2> "$T/kcat.err"
cut -d'|' -f2 "$T/raw.txt" | cut -d, -f1 | sort -n > "$T/raw_ids.txt"
(for f in "$D"/sales/*.csv; do tail -n +2 "$f" | cut -d, -f1; done) | sort -n > "$T/want_ids.txt"
want=$(wc -l < "$T/want_ids.txt")
got=$(wc -l < "$T/raw_ids.txt")
dups=$(uniq -d "$T/raw_ids.txt" | wc -l)
if cmp -s "$T/raw_ids.txt" "$T/want_ids.txt"; then
  ok "out_raw: all $want rows of $(ls "$D"/sales/*.csv | wc -l) files exactly once ($got messages)"
else
  bad "out_raw: $got messages for $want rows, $dups ids twice, $(comm -23 "$T/want_ids.txt" "$T/raw_ids.txt" | wc -l) missing"
fi
hdups=$(cut -d'|' -f1 "$T/raw.txt" | sort | uniq -d | wc -l)
[ "$hdups" -eq 0 ] && ok "out_raw: no (query, batch, seq) twice" || bad "out_raw: $hdups markers twice"

# ---- out_agg: per batch, sequences 0..n-1 once; the last batch is the batch answer
kcat -C -b "$BROKERS" -t out_agg -e -q -f '%h|%s\n' > "$T/agg.txt" 2>> "$T/kcat.err"
sed -E 's/.*tb\.batch=([0-9]+),tb\.seq=([0-9]+)\|.*/\1 \2/' "$T/agg.txt" | sort -n -k1,1 -k2,2 > "$T/agg_bs.txt"
bad_batches=$(awk '{ if ($1 != b) { if (b != "" && n != max + 1) bad++; b = $1; n = 0; max = -1 }
                     n++; if ($2 > max) max = $2; seen[$1" "$2]++; if (seen[$1" "$2] > 1) bad++ }
                   END { if (b != "" && n != max + 1) bad++; print bad + 0 }' "$T/agg_bs.txt")
nb=$(cut -d' ' -f1 "$T/agg_bs.txt" | sort -u | wc -l)
[ "$bad_batches" -eq 0 ] && ok "out_agg: $nb batches, each row (seq) exactly once" || bad "out_agg: $bad_batches batches with a gap or a repeat"
last=$(tail -1 "$T/agg_bs.txt" | cut -d' ' -f1)
grep "tb.batch=$last," "$T/agg.txt" | cut -d'|' -f2 | \
  sed -E 's/\{"category":"([^"]*)","total_quantity":([0-9]+)\}/\1,\2/' | sort > "$T/agg_last.txt"
"$BIN" query --format csv "SELECT category, sum(quantity) AS total_quantity
  FROM read_csv('$D/sales') s JOIN read_parquet('$D/products.parquet') p USING (product_id)
  GROUP BY category" | tail -n +2 | sort > "$T/agg_want.txt"
if cmp -s "$T/agg_last.txt" "$T/agg_want.txt"; then
  ok "out_agg: the last batch ($last) equals the batch answer ($(wc -l < "$T/agg_want.txt") categories)"
else
  bad "out_agg: the last batch differs from the batch answer"; diff "$T/agg_want.txt" "$T/agg_last.txt" | head
fi
echo "passed $pass, failed $fail"
[ "$fail" -eq 0 ]
