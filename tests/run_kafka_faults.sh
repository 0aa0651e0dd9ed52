#!/usr/bin/env bash
# Kafka faults (issue 10 point 5), against librdkafka's mock cluster hosted by
# tests/kafka/mock_cluster.c, its faults injected through its control FIFO while a job
# reads a 4-partition topic (the source) and writes every row to another topic (the
# exactly-once sink):
#   a broker down and up mid-run; partition leaders moving; fetch and produce requests
#   failing (NOT_LEADER, REQUEST_TIMED_OUT, disconnects); the group coordinator moving
#   (with OffsetCommit failing meanwhile); slow brokers (rtt).
# After the faults and a drain, the output topic holds every input message exactly once
# and the consumer group holds the end offsets (the input is what kcat, whose producer
# meets the faults too, got into the topic: it gives up on a message after 4 s). Then, start-up faults: no broker
# reachable (retries, then a clear error within the timeout, never a hang); a missing
# topic (clear error); malformed messages in each mode (permissive counts them,
# dropmalformed drops them, failfast stops naming topic, partition and offset).
# SKIPs (77) when kcat or the mock cluster host is missing.
set -uo pipefail
. "${TB_SRCDIR:?}/tests/lib_kafka.sh"
command -v curl > /dev/null || { echo "SKIP: curl not installed"; exit 77; }
kafka_setup faults
ctl() { echo "$*" > "$T/ctl"; sleep 0.3; }

kafka_mock --topic in:4 --topic out:4 --topic bad:1 --control "$T/ctl"

cat > "$T/job.sql" <<EOF
CREATE TABLE src (id int, name text, kafka_partition int)
  WITH (connector = 'kafka', brokers = '$BROKERS', topic = 'in', format = 'csv',
        group_id = 'faults', max_offsets_per_trigger = '300');
CREATE TABLE dst (id int, name text, kafka_partition int)
  WITH (connector = 'kafka', brokers = '$BROKERS', topic = 'out', format = 'csv',
        output_mode = 'append');
INSERT INTO dst SELECT * FROM src;
EOF
produce() { # first count
  seq "$1" $(($1 + $2 - 1)) | awk '{print $1 ",name" $1}' | kcat -P -b "$BROKERS" -t in -X message.timeout.ms=4000 2>> "$T/kcat.err"
}
produce 1 1000
"$BIN" run "$T/job.sql" --checkpoint "$T/ckpt" --trigger "100 ms" --quiet --log-level info --http 0 > "$T/job.out" 2> "$T/job.err" &
JOBPID=$!
# /metrics' tributary_kafka_lag (issue 11 point 4): latest - end offset per partition
lag() { curl -s "http://127.0.0.1:$(sed -n 's|^serving HTTP on http://[0-9.]*:\([0-9]*\)/.*|\1|p' "$T/job.err")/metrics" | grep '^tributary_kafka_lag{' | sed 's/.*topic="\([^"]*\)",partition="\([0-9]*\)"} /\1\/\2=/' | sort | tr '\n' ' '; }
sleep 1.5
echo "lag 1.5 s after start (1000 messages, max_offsets_per_trigger 300): $(lag)"
n=1001
FAULTS=${TB_KAFKA_FAULTS:-"down 2;up 2;leader in 0 3;leader in 1 1;leader out 2 3;errors fetch NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT TRANSPORT;errors produce NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT TRANSPORT;coordinator group faults 3;errors offsetcommit NOT_COORDINATOR COORDINATOR_NOT_AVAILABLE;rtt 1 200;down 3;up 3;rtt 1 0"}
IFS=';' read -r -a FAULT_LIST <<< "$FAULTS"
for fault in "${FAULT_LIST[@]}"; do
  ctl "$fault"
  produce $n 200
  n=$((n + 200))
  sleep 0.5
done
sleep 3
# caught up: every lag 0 (waited for: under load the faults' backlog takes a while)
for i in $(seq 1 60); do l=$(lag); [ "$l" = "in/0=0 in/1=0 in/2=0 in/3=0 " ] && break; sleep 0.5; done
if [ "$l" = "in/0=0 in/1=0 in/2=0 in/3=0 " ]; then ok "/metrics tributary_kafka_lag per partition once caught up ($((i / 2)) s after the faults' 3 s): $l"
else bad "/metrics tributary_kafka_lag: '$l' (expected 0 for in/0..3)"; fi
t_stop=$(date +%s)
kill -INT "$JOBPID"; wait "$JOBPID"; st=$?
cp "$T/job.err" "$T/job_main.err" # the sink's restarts in the main run ("holds batch")
echo "job stopped $(($(date +%s) - t_stop)) s after SIGINT"
JOBPID=
[ $st -eq 0 ] && ok "job ran through the faults and stopped cleanly" || { bad "job exited $st"; tail -20 "$T/job.err"; }
grep -c '^ok' "$T/mock.out" | xargs -I{} echo "mock: {} commands done"
grep '^error' "$T/mock.out" | head -3
t_drain=$(date +%s)
"$BIN" run "$T/job.sql" --checkpoint "$T/ckpt" --trigger available-now --quiet >> "$T/job.out" 2>> "$T/job.err" \
  && ok "drain run ($(($(date +%s) - t_drain)) s)" || bad "drain run failed"
sane "$T/job.err" "job"
# The input is what kcat managed to produce through the faults (its own producer meets
# them too); the output must hold each input message exactly once.
# The mock broker may hold a message twice with the same (tb.batch, tb.seq): when an
# injected disconnect (TRANSPORT) or a broker going down drops the responses of produce
# requests it had already appended, the idempotent producer retries them and the mock,
# unlike a real broker (KIP-98: it drops a retried batch by producer id and sequence),
# appends them again. Such a copy is the same message (same partition, batch, seq and
# row), so it is counted once here, as a consumer deduplicating by the headers would;
# a row sent twice by the sink itself (a re-run batch not skipped) would carry another
# (batch, seq) or come after a restart of the sink, and fails.
kcat -C -b "$BROKERS" -t out -e -q -f '%p %o %h %s\n' |
  sed -E 's/^([0-9]+) ([0-9]+) .*tb\.batch=([0-9]+),tb\.seq=([0-9]+) ([0-9]+),.*/\1 \2 \3 \4 \5/' > "$T/out.txt"
awk '{k = $3 " " $4} (k in id) && (id[k] != $5 || part[k] != $1) {print "conflict", $0} {id[k] = $5; part[k] = $1}' "$T/out.txt" > "$T/conflicts.txt"
awk '!seen[$3 " " $4]++ {print $5}' "$T/out.txt" | sort > "$T/got.txt"
redelivered=$(($(wc -l < "$T/out.txt") - $(wc -l < "$T/got.txt")))
restarts=$(grep -c "holds batch" "$T/job_main.err")
kcat -C -b "$BROKERS" -t in -e -q | cut -d, -f1 | sort > "$T/want.txt"
if cmp -s "$T/got.txt" "$T/want.txt" && ! [ -s "$T/conflicts.txt" ] && { [ "$redelivered" = 0 ] || [ "$restarts" = 0 ]; }; then
  ok "every one of $(wc -l < "$T/want.txt") input messages exactly once in the output topic after the faults ($((n - 1)) sent by kcat; $redelivered copies appended twice by the mock broker, same partition/batch/seq)"
else
  bad "output: $(wc -l < "$T/got.txt") distinct (batch, seq) for $(wc -l < "$T/want.txt") inputs; $(uniq -d "$T/got.txt" | wc -l) rows twice, $(comm -23 "$T/want.txt" "$T/got.txt" | wc -l) missing; $redelivered same-header copies, $restarts sink restarts; $(wc -l < "$T/conflicts.txt") header conflicts"
  head -3 "$T/conflicts.txt"
fi
# The group holds the end offsets: a consumer of group 'faults' finds nothing left.
left=$(timeout 20 kcat -C -b "$BROKERS" -G faults -X auto.offset.reset=earliest -X session.timeout.ms=6000 -e -q in 2> /dev/null | wc -l)
[ "$left" -eq 0 ] && ok "consumer group 'faults' committed at the end (kcat -G reads 0 messages)" \
  || bad "consumer group 'faults' has $left messages left"

# ---- start-up faults
cat > "$T/nobroker.sql" <<EOF
CREATE TABLE s (id int) WITH (connector = 'kafka', brokers = '127.0.0.1:1', topic = 'in',
  startup_timeout_ms = '3000');
CREATE MATERIALIZED VIEW v AS SELECT count(*) FROM s;
EOF
t0=$(date +%s)
timeout 60 "$BIN" run "$T/nobroker.sql" --trigger available-now --quiet > /dev/null 2> "$T/nb.err"; st=$?
t1=$(date +%s)
if [ $st -ne 0 ] && [ $st -ne 124 ] && grep -q "no Kafka broker reachable at '127.0.0.1:1' after" "$T/nb.err"; then
  ok "no broker: clear error after $((t1 - t0)) s ($(grep -o "no Kafka broker[^;]*" "$T/nb.err" | head -1))"
else
  bad "no broker: exit $st"; tail -3 "$T/nb.err"
fi
ctl "topic_error missing UNKNOWN_TOPIC_OR_PART"
sed "s/127.0.0.1:1/$BROKERS/; s/topic = 'in'/topic = 'missing'/" "$T/nobroker.sql" > "$T/missing.sql"
timeout 60 "$BIN" run "$T/missing.sql" --trigger available-now --quiet > /dev/null 2> "$T/mt.err"; st=$?
grep -q "Kafka topic 'missing' does not exist" "$T/mt.err" && [ $st -ne 0 ] \
  && ok "missing topic: $(grep -o "Kafka topic 'missing' does not exist[^(]*" "$T/mt.err" | head -1)" \
  || { bad "missing topic: exit $st"; tail -3 "$T/mt.err"; }

# ---- malformed messages in each mode
printf '1,1,2024-05-01 12:00:00\n2,x,2024-05-01 12:00:00\n3,3\n4,4,2024-05-01 12:00:00\n' | kcat -P -b "$BROKERS" -t bad
for mode in permissive dropmalformed failfast; do
  cat > "$T/bad.sql" <<EOF
CREATE TABLE s (id int, qty int, ts timestamp) WITH (connector = 'kafka', brokers = '$BROKERS',
  topic = 'bad', mode = '$mode', bad_records_path = '$T/bad_$mode');
CREATE MATERIALIZED VIEW v AS SELECT count(*) AS n, count(qty) AS q FROM s;
EOF
  timeout 60 "$BIN" run "$T/bad.sql" --trigger available-now --quiet --format csv --show 'SELECT * FROM v' \
    > "$T/bad_$mode.out" 2> "$T/bad_$mode.err"; st=$?
  case $mode in
    permissive) tail -1 "$T/bad_$mode.out" | grep -q '^4,3$' && [ "$(cat "$T"/bad_permissive/*.jsonl | wc -l)" = 2 ] \
                  && ok "permissive: 4 rows, 1 NULL qty, 2 bad records naming topic/partition/offset" \
                  || { bad "permissive: $(tail -1 "$T/bad_$mode.out")"; } ;;
    dropmalformed) tail -1 "$T/bad_$mode.out" | grep -q '^2,2$' && ok "dropmalformed: 2 rows kept" \
                  || bad "dropmalformed: $(tail -1 "$T/bad_$mode.out")" ;;
    failfast) [ $st -ne 0 ] && grep -q "topic bad partition 0 offset 1" "$T/bad_$mode.err" \
                  && ok "failfast: $(grep -o 'topic bad partition 0 offset 1[^"]*' "$T/bad_$mode.err" | head -1)" \
                  || { bad "failfast: exit $st"; tail -3 "$T/bad_$mode.err"; } ;;
  esac
done
grep -h '"offset"' "$T"/bad_permissive/*.jsonl | head -2
echo "passed $pass, failed $fail"
[ "$fail" -eq 0 ]
