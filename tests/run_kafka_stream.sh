#!/usr/bin/env bash
# Exactly once from Kafka (issue 10 point 3): the reference job of tests/kafka/job_stream.sql
# reads its sales from a topic of 4 partitions on librdkafka's mock cluster (3 brokers,
# tests/kafka/mock_cluster.c) while a producer (kcat) keeps writing to it, and is killed
# with SIGKILL 20 times at random moments (0.2-1.2 s after each start), plus at named
# crash points (after the sinks committed a batch, before its checkpoint commit; inside a
# Delta commit). A final available-now run drains the topic. Then the complete view and
# the complete Delta table must equal the batch answer over every message produced, and
# the raw Delta table must hold every sale exactly once. Also checked: the progress
# records carry Spark's sources[] (start, end, latest offsets per partition) and the
# consumer group holds the committed offsets (kcat -G reads nothing left over).
# SKIPs (77) when kcat or the mock cluster host is missing. Env: TB_BIN, TB_BUILD;
# TB_KAFKA_KILLS (20), TB_KAFKA_SEED; TB_KEEP=1.
set -uo pipefail
. "${TB_SRCDIR:?}/tests/lib_kafka.sh"
KILLS=${TB_KAFKA_KILLS:-20}
CHUNKS=30
ROWS=150
SEED=${TB_KAFKA_SEED:-$((($$ + $(date +%s)) % 32768))}
RANDOM=$SEED
echo "seed $SEED (TB_KAFKA_SEED=$SEED replays the same delays)"
check() {
  if diff -u "$2" "$3" > "$T/diff.txt"; then ok "$1 ($(($(wc -l < "$2") - 1)) rows)"; else bad "$1"; head -20 "$T/diff.txt"; fi
}
last_view() { awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$1"; }
kafka_setup stream
kafka_mock --topic sales:4

D=$T/d
mkdir -p "$D/gen"
"$BIN" generate products --out "$D/products.parquet" --products 100
RUN=("$BIN" run "$SRC/tests/kafka/job_stream.sql" --set DATA="$D" --set BROKERS="$BROKERS"
     --set MAXOFF=400 --checkpoint "$D/ckpt" --quiet)
# Producer: CHUNKS chunks of ROWS sales (each chunk 3 s of event time after the last),
# every message to a partition of kcat's choosing (no key: spread), 50-200 ms apart.
produce_chunk() {
  "$BIN" generate sales --out "$D/gen" --rows $ROWS --files 1 --first-file "$1" \
    --first-id $(($1 * ROWS + 1)) --seed $((500 + $1)) --products 100 \
    --start "$(date -u -d "2024-05-01 12:00:00 UTC + $(($1 * 3)) seconds" '+%Y-%m-%d %H:%M:%S')" \
    --rate 50 > /dev/null
  f=$(ls -t "$D"/gen/*.csv | head -1)
  tail -n +2 "$f" | kcat -P -b "$BROKERS" -t sales 2>> "$T/kcat.err"
}
feeder() {
  for ((k = 0; k < CHUNKS; k++)); do
    produce_chunk $k
    ms_sleep $((50 + RANDOM % 150))
  done
}
feeder &
FEEDER=$!

kills=0
for ((i = 0; i < KILLS; i++)); do
  "${RUN[@]}" --trigger continuous >> "$T/job.out" 2>> "$T/job.err" &
  JOBPID=$!
  ms_sleep $((200 + RANDOM % 1000))
  kill -9 "$JOBPID" 2> /dev/null && kills=$((kills + 1))
  wait "$JOBPID" 2> /dev/null
  JOBPID=
done
wait "$FEEDER"
FEEDER=
[ "$kills" -ge "$KILLS" ] && ok "$kills random SIGKILLs while messages are produced" || bad "only $kills kills landed"
n=$CHUNKS
for cp in stream-sinks@$((RANDOM % 3 + 1)) delta-commit:1; do
  produce_chunk $n; n=$((n + 1))
  TB_CRASH_AT=$cp "${RUN[@]}" --trigger available-now >> "$T/job.out" 2> "$T/crash.err"
  rc=$?
  if grep -q "crash point" "$T/crash.err"; then ok "killed at crash point $cp (exit $rc)"
  elif [ $rc -eq 0 ]; then echo "note: crash point $cp not reached"
  else bad "crash point $cp: exit $rc"; tail -5 "$T/crash.err"; fi
  cat "$T/crash.err" >> "$T/job.err"
done

st=0
"${RUN[@]}" --trigger available-now --format csv --every '1 hour' --progress "$T/progress.jsonl" \
  --show "SELECT * FROM sales_by_category ORDER BY 1, 2" > "$T/final.out" 2> "$T/final.err" || st=$?
[ "$st" = 0 ] && ok "drain run" || { bad "drain run exited $st"; head -20 "$T/final.err"; }
cat "$T/final.err" >> "$T/job.err"
sane "$T/job.err" "job"

Q=(query --format csv)
"$BIN" "${Q[@]}" "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
    sum(quantity) AS total_quantity
  FROM read_csv('$D/gen') JOIN read_parquet('$D/products.parquet') USING (product_id)
  GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect.csv"
nmsg=$(kcat -C -b "$BROKERS" -t sales -e -q | wc -l)
[ "$nmsg" = $((n * ROWS)) ] && ok "topic: $nmsg messages in 4 partitions" || bad "topic has $nmsg messages, expected $((n * ROWS))"
{ head -1 "$T/expect.csv"; last_view "$T/final.out" | tail -n +2; } > "$T/view.csv"
check "complete view = batch answer over every message" "$T/expect.csv" "$T/view.csv"
"$BIN" "${Q[@]}" "SELECT window_start, category, total_quantity
  FROM read_delta('$D/out_complete') ORDER BY 1, 2" > "$T/delta_c.csv"
check "complete Delta table = batch answer" "$T/expect.csv" "$T/delta_c.csv"
"$BIN" "${Q[@]}" "SELECT count(*), count(DISTINCT sale_id), sum(quantity) FROM read_delta('$D/out_raw')" > "$T/raw.csv"
"$BIN" "${Q[@]}" "SELECT count(*), count(DISTINCT sale_id), sum(quantity) FROM read_csv('$D/gen')" > "$T/raw_expect.csv"
check "raw Delta table: every message exactly once (count, distinct ids, sum)" "$T/raw_expect.csv" "$T/raw.csv"
# The Delta commits carry a txn per query and topic-partition (appId
# "<query>/sales/<p>", version = next offset), as kafka-delta-ingest: after the drain the
# last one of each partition is that partition's end, which is also what the checkpoint
# committed (the consumer group hears the same ends).
ls "$D"/out_raw/_delta_log/*.json | sort | xargs cat |
  grep -oE '"txn":\{"appId":"[^"]*/sales/[0-9]+","version":[0-9]+' |
  sed -E 's/.*\/sales\/([0-9]+)","version":([0-9]+)/\1 \2/' |
  awk '{last[$1] = $2} END {for (p in last) print p, last[p]}' | sort > "$T/txn.txt"
kcat -C -b "$BROKERS" -t sales -e -q -f '%p\n' | sort | uniq -c | awk '{print $2, $1}' > "$T/txn_expect.txt"
grep -o '"appId":"[^"]*/sales/0"' "$D"/out_raw/_delta_log/*.json | head -1 | sed 's/^[^:]*://' > "$T/txn_id.txt"
if [ -s "$T/txn.txt" ] && diff "$T/txn_expect.txt" "$T/txn.txt" > /dev/null; then
  ok "Delta txn per partition ($(cat "$T/txn_id.txt")...): last versions = partition ends: $(tr '\n' ' ' < "$T/txn.txt")"
else
  bad "Delta txns per partition $(tr '\n' ' ' < "$T/txn.txt") differ from the partition ends $(tr '\n' ' ' < "$T/txn_expect.txt")"
fi
if { grep '"description":"KafkaV2\[Subscribe\[sales\]\]"' "$T/progress.jsonl" |
     grep '"startOffset":{"sales":{"0":' > /dev/null; } 2> /dev/null \
   || ! [ -s "$T/progress.jsonl" ]; then
  ok "progress records carry sources[] with per-partition offsets ($(wc -l < "$T/progress.jsonl") records in the drain run)"
else
  bad "progress records lack sources[]"; head -2 "$T/progress.jsonl"
fi
echo "passed $pass, failed $fail"
[ "$fail" -eq 0 ]
