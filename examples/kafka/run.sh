#!/usr/bin/env bash
# The reference job on Kafka (README "Kafka"). Against any broker:
#   examples/kafka/run.sh --set BROKERS=host:9092[,...]   (topics sales and
#   sales_by_category must exist; sales is filled with generated sales unless
#   --no-produce)
# With no BROKERS, against librdkafka's mock cluster (3 brokers, in-memory) that this
# script starts (tests/kafka/mock_cluster.c, built as build/tb_mock_kafka) and stops.
# Needs kcat (apt-get install kcat) to produce the sales and read the output topic.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${TB_BIN:-build/tributary}
DATA=${DATA:-data/kafka}
BROKERS=
PRODUCE=1
MESSAGES=${MESSAGES:-20000}
TOPIC=sales
while [ $# -gt 0 ]; do
  case "$1" in
    --set) case "$2" in BROKERS=*) BROKERS=${2#BROKERS=} ;; TOPIC=*) TOPIC=${2#TOPIC=} ;;
           *) echo "unknown --set $2" >&2; exit 2 ;; esac; shift 2 ;;
    --no-produce) PRODUCE=0; shift ;;
    *) echo "usage: $0 [--set BROKERS=h:p,...] [--set TOPIC=name] [--no-produce]" >&2; exit 2 ;;
  esac
done
command -v kcat > /dev/null || { echo "kafka example: kcat is needed (apt-get install kcat)" >&2; exit 1; }
[ -x "$BIN" ] || cmake --build build --target tributary > /dev/null
MOCKPID=
if [ -z "$BROKERS" ]; then
  BUILD=$(dirname "$BIN")
  [ -x "$BUILD/tb_mock_kafka" ] || cmake --build "$BUILD" --target tb_mock_kafka > /dev/null
  mkdir -p "$DATA"
  "$BUILD/tb_mock_kafka" --topic "$TOPIC:4" --topic "${TOPIC}_by_category:4" > "$DATA/mock.out" 2> "$DATA/mock.err" &
  MOCKPID=$!
  trap 'kill $MOCKPID 2> /dev/null || true' EXIT
  for _ in $(seq 1 50); do grep -q '^ready' "$DATA/mock.out" && break; sleep 0.1; done
  BROKERS=$(awk '/^bootstrap/{print $2}' "$DATA/mock.out")
  echo "kafka example: librdkafka's mock cluster (3 brokers) at $BROKERS"
fi
rm -rf "$DATA/checkpoint" "$DATA/sales_by_category" "$DATA/bad_records" "$DATA/gen"
mkdir -p "$DATA/gen"
"$BIN" generate products --out "$DATA/products.parquet" --products 1000 > /dev/null
if [ "$PRODUCE" = 1 ]; then
  "$BIN" generate sales --out "$DATA/gen" --rows "$MESSAGES" --files 1 --products 1000 > /dev/null
  tail -n +2 "$DATA"/gen/*.csv | kcat -P -b "$BROKERS" -t "$TOPIC"
  echo "kafka example: produced $MESSAGES sales to topic $TOPIC"
fi
"$BIN" run examples/kafka/job.sql --set DATA="$DATA" --set BROKERS="$BROKERS" --set TOPIC="$TOPIC" \
  --checkpoint "$DATA/checkpoint" --trigger available-now --progress "$DATA/progress.jsonl" \
  --show "SELECT category, sum(total_quantity) AS total_quantity FROM sales_by_category
          GROUP BY category ORDER BY total_quantity DESC LIMIT 5" --every '1 hour'
echo "kafka example: last progress record's sources[] (offsets per partition):"
tail -1 "$DATA/progress.jsonl" | sed 's/.*"sources":/  /' | cut -c1-300
echo "kafka example: $(kcat -C -b "$BROKERS" -t "${TOPIC}_by_category" -e -q | wc -l) messages in ${TOPIC}_by_category; the first:"
kcat -C -b "$BROKERS" -t "${TOPIC}_by_category" -e -q -c 1 -f '  key %k headers %h value %s\n'
