#!/usr/bin/env bash
# Kafka case of make bench (issue 10 point 6), on librdkafka's mock cluster (the only
# Kafka-protocol broker installable here; tests/kafka/mock_cluster.c), in one run:
#   (k1) throughput: the reference job (join with 1,000 products, sum per 10-second
#        window and category, a view) over a 4-partition topic of MESSAGES CSV sales,
#        --trigger available-now, against `kcat -C -e` reading the same topic to
#        /dev/null: messages/s of each, best of REPEAT;
#   (k2) latency: --trigger continuous while a producer writes RATE messages/s for
#        SECONDS, each carrying its produce time as ts; a message's latency is the end
#        of the batch that put it in the view (progress timestamp + durationMs.total)
#        minus that time; p50 and p99 over every message.
# The mock keeps at most 5 MiB per partition (older segments are dropped): MESSAGES is
# bounded by that (producing with zstd, about 2 million fit); the run checks that the
# log still starts at offset 0 and says so otherwise.
# Env: TB_BIN (default build/release/tributary), MESSAGES (2000000), REPEAT (3), RATE
# (1000), SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${TB_BIN:-build/release/tributary}")
MOCK=$(dirname "$BIN")/tb_mock_kafka
MESSAGES=${MESSAGES:-2000000}
REPEAT=${REPEAT:-3}
RATE=${RATE:-1000}
SECONDS_=${SECONDS:-10}
command -v kcat > /dev/null || { echo "kafka bench: kcat is missing (apt-get install kcat)" >&2; exit 1; }
[ -x "$MOCK" ] || cmake --build "$(dirname "$BIN")" --target tb_mock_kafka > /dev/null
T=$(mktemp -d "${TMPDIR:-/tmp}/tb-bench-kafka-XXXXXX")
MOCKPID=
cleanup() { [ -n "$MOCKPID" ] && kill "$MOCKPID" 2> /dev/null; if [ -n "${TB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT
"$MOCK" --topic sales:4 --topic live100:4 --topic live1:4 --topic livek:4 > "$T/mock.out" 2> "$T/mock.err" &
MOCKPID=$!
for _ in $(seq 1 50); do grep -q '^ready' "$T/mock.out" && break; sleep 0.1; done
B=$(awk '/^bootstrap/{print $2}' "$T/mock.out")
"$BIN" generate products --out "$T/products.parquet" --products 1000 > /dev/null
"$BIN" generate sales --out "$T/gen" --rows "$MESSAGES" --files 1 --seed 1 --rate 20000 > /dev/null
tail -n +2 "$T"/gen/*.csv | kcat -P -b "$B" -t sales -z zstd -X linger.ms=50 -X batch.num.messages=100000 \
  -X batch.size=4000000 2> /dev/null
rm -rf "$T/gen"
lost=0
for p in 0 1 2 3; do
  lo=$(kcat -Q -b "$B" -t "sales:$p:-2" 2> /dev/null | awk '{print $NF}')
  [ "${lo:-0}" = 0 ] || lost=1
done
n=$(kcat -C -b "$B" -t sales -e -q -f '\n' 2> /dev/null | wc -l)
echo "kafka bench: $n messages in 4 partitions (produced $MESSAGES$([ $lost = 1 ] && echo ", the mock dropped the oldest: its 5 MiB per partition"))"
cat > "$T/job.sql" <<EOF
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '$T/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'kafka', brokers = '$B', topic = '\${TOPIC}', format = 'csv',
        max_offsets_per_trigger = '\${MAXOFF}', fail_on_data_loss = 'false',
        "kafka.fetch.wait.max.ms" = '\${FETCHWAIT}');
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;
EOF
best() { sort -n | head -1; }
kt=()
tt=()
for ((r = 0; r < REPEAT; r++)); do
  s=$(date +%s.%N)
  kcat -C -b "$B" -t sales -e -q -o beginning > /dev/null 2>&1
  kt+=("$(echo "$(date +%s.%N) - $s" | bc)")
  rm -rf "$T/ckpt"
  s=$(date +%s.%N)
  "$BIN" run "$T/job.sql" --set TOPIC=sales --set MAXOFF=1000000 --set FETCHWAIT=100 --checkpoint "$T/ckpt" \
    --trigger available-now --quiet > /dev/null
  tt+=("$(echo "$(date +%s.%N) - $s" | bc)")
done
kbest=$(printf '%s\n' "${kt[@]}" | best)
tbest=$(printf '%s\n' "${tt[@]}" | best)
krate=$(echo "$n / $kbest" | bc)
trate=$(echo "$n / $tbest" | bc)
echo
echo "| (k1) $n messages, 4 partitions | best of $REPEAT (s) | messages/s | vs kcat |"
echo "|---|---|---|---|"
echo "| kcat -C -e > /dev/null | $kbest | $krate | 1.00 |"
echo "| tributary reference job (available-now) | $tbest | $trate | $(echo "scale=2; $trate / $krate" | bc) |"
echo "runs: kcat ${kt[*]}; tributary ${tt[*]}"

# (k2) latency, for each fetch.wait.max.ms in FETCHWAITS (the mock cannot answer a
# parked fetch early when a message arrives, as Kafka does: it answers after the full
# wait, so this bounds latency on the mock only), then the same producer read by a kcat
# consumer (-o end, receive time minus produce time): the floor of the mock's path.
produce_live() { # topic
  python3 - "$RATE" "$SECONDS_" <<'EOF' | kcat -P -b "$B" -t "$1" -X linger.ms=0 2> /dev/null
import sys, time, datetime
rate, secs = int(sys.argv[1]), int(sys.argv[2])
t0 = time.time()
for i in range(rate * secs):
    due = t0 + i / rate
    now = time.time()
    if due > now:
        time.sleep(due - now)
    ts = datetime.datetime.utcfromtimestamp(time.time()).strftime('%Y-%m-%d %H:%M:%S.%f')
    sys.stdout.write(f"{i},{i % 1000},1,{ts}\n")
    sys.stdout.flush()
EOF
}
echo
echo "| (k2) --trigger continuous, $RATE messages/s for $SECONDS_ s, produce to view | p50 | p99 | max |"
echo "|---|---|---|---|"
for fw in ${FETCHWAITS:-100 1}; do
  rm -rf "$T/ckpt" "$T/progress.jsonl"
  "$BIN" run "$T/job.sql" --set TOPIC="live$fw" --set MAXOFF=0 --set FETCHWAIT="$fw" --checkpoint "$T/ckpt" \
    --trigger continuous --quiet --progress "$T/progress.jsonl" > /dev/null 2> "$T/job.err" &
  JOB=$!
  sleep 2
  produce_live "live$fw"
  sleep 2
  kill -INT "$JOB"; wait "$JOB" || true
  kcat -C -b "$B" -t "live$fw" -e -q -f '%p %o %s\n' > "$T/live.txt" 2> /dev/null
  python3 - "$T/progress.jsonl" "$T/live.txt" "live$fw" "$fw" <<'EOF'
import sys, json, datetime
def us(s):
    return datetime.datetime.strptime(s, '%Y-%m-%d %H:%M:%S.%f').replace(
        tzinfo=datetime.timezone.utc).timestamp() if '.' in s else datetime.datetime.strptime(
        s, '%Y-%m-%d %H:%M:%S').replace(tzinfo=datetime.timezone.utc).timestamp()
ts = {}
for line in open(sys.argv[2]):
    p, o, v = line.rstrip('\n').split(' ', 2)
    ts[(int(p), int(o))] = us(v.split(',')[3])
lat = []
batches = 0
topic = sys.argv[3]
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not r.get('sources'):
        continue
    end = us(r['timestamp']) + r['durationMs']['total'] / 1000.0
    s = r['sources'][0]
    batches += 1
    for p, a in s['startOffset'][topic].items():
        b = s['endOffset'][topic][p]
        for o in range(a, b):
            if (int(p), o) in ts:
                lat.append((end - ts[(int(p), o)]) * 1000.0)
lat.sort()
if not lat:
    print("(k2) no latency samples"); sys.exit(0)
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print(f"| tributary, kafka.fetch.wait.max.ms = {sys.argv[4]} ({len(lat)} messages, {batches} batches) | {q(0.5):.1f} ms | {q(0.99):.1f} ms | {lat[-1]:.1f} ms |")
EOF
done
kcat -C -b "$B" -t livek -o end -u -X fetch.wait.max.ms=1 -f '%s\n' 2> /dev/null | python3 -u -c "
import sys, time, datetime
n = int(sys.argv[1])
lat = []
for l in sys.stdin:
    now = time.time()
    ts = datetime.datetime.strptime(l.strip().split(',')[3], '%Y-%m-%d %H:%M:%S.%f').replace(
        tzinfo=datetime.timezone.utc).timestamp()
    lat.append((now - ts) * 1000)
    if len(lat) >= n:
        break
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print(f'| kcat -C (fetch.wait.max.ms = 1), the same producer: receive time | {q(0.5):.1f} ms | {q(0.99):.1f} ms | {lat[-1]:.1f} ms |')
" $((RATE * SECONDS_)) &
KC=$!
sleep 2
produce_live livek
timeout 10 tail --pid=$KC -f /dev/null || kill $KC 2> /dev/null
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at end"
