#!/usr/bin/env bash
# issue 11 points 3, 4, 5 and 7 on a running job (`tributary run JOB --pg 0 --http 0`):
# the HTTP API (query as JSON and CSV, views, progress), server-sent events (one per
# committed batch, with the changed rows), /metrics, malformed HTTP requests, 64
# node-postgres clients querying while batches commit (never half a batch), a
# subscriber that never reads, and the live dashboard in headless Chromium
# (screenshots kept in $TB_BUILD/serve-artifacts). Env: TB_BIN, TB_SRCDIR, TB_BUILD.
set -uo pipefail
BIN=${TB_BIN:?}
SRC=${TB_SRCDIR:?}
BUILD=${TB_BUILD:-$SRC/build}
. "$SRC/tests/lib_serve.sh"
T=$(mktemp -d /tmp/tb-servehttp-XXXXXX)
trap 'serve_cleanup; kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1"; echo "  expected: $(printf '%q' "$2")"
    echo "  actual:   $(printf '%q' "$3")"
  fi
}
command -v curl > /dev/null || { echo "SKIP: curl missing"; exit 77; }
mkdir -p "$T/in"
NFILE=0
feed() { # files: each 100 rows of quantity 1 over categories c0..c4
  local k i
  for ((k = 0; k < $1; k++)); do
    {
      echo "sale_id,category,quantity"
      for ((i = 0; i < 100; i++)); do echo "$((NFILE * 100 + i)),c$((i % 5)),1"; done
    } > "$T/in/.f$NFILE.tmp"
    mv "$T/in/.f$NFILE.tmp" "$T/in/f$(printf %05d $NFILE).csv"
    NFILE=$((NFILE + 1))
    [ -n "${2:-}" ] && sleep "$2"
  done
  return 0
}
cat > "$T/job.sql" <<SQL
CREATE TABLE sales (sale_id int, category text, quantity int)
  WITH (connector = 'files', format = 'csv', path = '$T/in');
CREATE MATERIALIZED VIEW totals AS
  SELECT category, sum(quantity) AS total_quantity, count(*) AS n FROM sales GROUP BY 1;
SQL
SHOW_SQL="SELECT category, sum(total_quantity) AS total_quantity FROM totals GROUP BY 1 ORDER BY 2 DESC"
serve_start "$T/run.log" run "$T/job.sql" --pg 0 --http 0 --trigger '100ms' --quiet \
  --show "$SHOW_SQL" --every '1 hour' || exit 1
H="http://127.0.0.1:$HTTP_PORT"
get() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
rows() { curl -s "$H/api/query?sql=SELECT%20sum(n)%20FROM%20totals&format=csv" | tail -1; }
wait_rows() { # n
  local i
  for i in $(seq 1 200); do [ "$(rows)" = "$1" ] && return 0; sleep 0.1; done
  return 1
}

curl -sN "$H/api/events" > "$T/sse.txt" &
sleep 0.3
feed 3 0.4
wait_rows 300
check "view has every row" "300" "$(rows)"
check "api/query json" "200" "$(get "$H/api/query?sql=SELECT+category,n+FROM+totals+WHERE+category%3D'c0'")"
check "api/query json body" '{"columns":[{"name":"category","type":"text"},{"name":"n","type":"bigint"}],"rows":[["c0",60]],"rowCount":1}' "$(cat "$T/body")"
check "api/query csv" "category,total_quantity
c0,60
c1,60" "$(curl -s "$H/api/query?format=csv&sql=SELECT%20category,total_quantity%20FROM%20totals%20ORDER%20BY%201%20LIMIT%202")"
check "api/views" "200" "$(get "$H/api/views")"
check "api/views lists totals with columns" "1" "$(grep -c '"name":"totals","type":"table","columns":\[{"name":"category"' "$T/body")"
check "api/progress" "200" "$(get "$H/api/progress")"
check "api/progress has the query's record" "1" "$(grep -c '"name":"totals"' "$T/body")"
get "$H/metrics" > /dev/null
BATCHES=$(sed -n 's/^tributary_batches_total{query="totals"} \([0-9]*\)/\1/p' "$T/body")
check "metrics: input rows" 'tributary_input_rows_total{query="totals"} 300' "$(grep '^tributary_input_rows_total' "$T/body")"
check "metrics: batch histogram count = batches" "tributary_batch_duration_seconds_count{query=\"totals\"} $BATCHES" "$(grep '^tributary_batch_duration_seconds_count' "$T/body")"
check "metrics: +Inf bucket" "1" "$(grep -c 'tributary_batch_duration_seconds_bucket{query="totals",le="+Inf"}' "$T/body")"
check "metrics: state rows" 'tributary_state_rows{query="totals"} 5' "$(grep '^tributary_state_rows' "$T/body")"
check "metrics: malformed" 'tributary_rows_malformed_total{query="totals"} 0' "$(grep '^tributary_rows_malformed_total' "$T/body")"
sleep 0.3
check "one event per committed batch" "$BATCHES" "$(grep -c '^event: batch' "$T/sse.txt")"
check "events carry the changed rows" "1" "$(grep '^data:' "$T/sse.txt" | tail -1 | grep -c '"views":{"totals":{"columns":\[{"name":"category","type":"text"}')"
check "first event: 5 changed rows" "5" "$(grep '^data:' "$T/sse.txt" | head -1 | sed 's/.*"changed":\[\(.*\)\],"removed".*/\1/' | grep -o '\["c' | wc -l)"

# malformed HTTP
check "bad percent-encoding: 400" "400" "$(get "$H/api/query?sql=SELECT%zz1")"
check "bad percent-encoding: offset" "1" "$(grep -c 'bad percent-encoding in the query string at offset 10' "$T/body")"
check "encoded NUL: 400" "400" "$(get "$H/api/query?sql=SELECT%001")"
check "path traversal: 400" "400" "$(get --path-as-is "$H/../../etc/passwd")"
check "encoded traversal: 400" "400" "$(get --path-as-is "$H/%2e%2e/%2e%2e/etc/passwd")"
check "unknown path: 404" "404" "$(get "$H/etc/passwd")"
check "POST: 405" "405" "$(get -X POST -d x "$H/api/query")"
check "write statement: 403" "403" "$(get "$H/api/query?sql=DROP%20TABLE%20totals")"
check "write statement: message" "1" "$(grep -c 'cannot execute DROP in a read-only transaction' "$T/body")"
check "SQL error: 400 + position" "400" "$(get "$H/api/query?sql=SELECT%20nope%20FROM%20totals")"
check "SQL error body" '"sqlstate":"42703","position":8' "$(grep -o '"sqlstate":"[0-9A-Z]*","position":[0-9]*' "$T/body")"
{ printf 'X-Big: '; head -c 300000 /dev/zero | tr '\0' 'a'; echo; } > "$T/bighdr"
check "huge header refused" "431" "$(get -H @"$T/bighdr" "$H/api/progress")"
huge_url() { # the status line for a request target of 200 KB
  exec 8<> "/dev/tcp/127.0.0.1/$HTTP_PORT"
  { printf 'GET /api/query?sql='; head -c 200000 /dev/zero | tr '\0' 'a'
    printf ' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; } >&8 2> /dev/null
  timeout 5 head -1 <&8 | cut -d' ' -f2
  exec 8>&-
}
check "huge URL refused" "1" "$(huge_url | grep -c '^4')"
check "server alive after bad requests" "300" "$(rows)"

# 64 clients querying while batches commit; a subscriber that never reads
if need_node_modules; then
  exec 7<> "/dev/tcp/127.0.0.1/$HTTP_PORT"
  printf 'GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n' >&7 # and never read
  NODE_PATH=$SERVE_NODE_PATH node "$SERVE_JS/consistency.mjs" "$PG_PORT" 64 "$T/STOP" \
    > "$T/cons.json" 2> "$T/cons.err" &
  CONS=$!
  sleep 1.5
  feed 30 0.05
  wait_rows 3300
  sleep 0.5
  touch "$T/STOP"
  wait $CONS
  check "64 clients finished" "0" "$?"
  cat "$T/cons.json" "$T/cons.err"
  check "no answer saw half a batch" "0" "$(sed 's/.*"violations":\([0-9]*\).*/\1/' "$T/cons.json")"
  check "queries spanned several batches" "1" "$(sed 's/.*"states":\([0-9]*\).*/\1/' "$T/cons.json" | awk '{print ($1 > 2)}')"
  check "batches ran despite the stuck subscriber" "3300" "$(rows)"
  exec 7>&-

  # the dashboard in headless Chromium
  if [ -x /usr/bin/chromium ]; then
    ART=$BUILD/serve-artifacts
    NODE_PATH=$SERVE_NODE_PATH timeout 120 node "$SERVE_JS/dashboard.mjs" "$H/" "$ART" \
      "bash -c 'cd $T/in && for i in 1 2 3; do f=d\$i; (echo sale_id,category,quantity; for j in \$(seq 1 100); do echo \$j,c\$((j % 5)),1; done) > .\$f && mv .\$f \$f.csv; sleep 0.3; done'" \
      > "$T/dash.out" 2>&1
    check "dashboard in Chromium" "0" "$?"
    cat "$T/dash.out"
    echo "screenshots: $(ls "$ART"/*.png 2> /dev/null | tr '\n' ' ')"
  else
    echo "SKIP: dashboard part (apt-get install chromium)"
  fi
else
  echo "SKIP: node parts (npm)"
fi

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check "job stops cleanly with its servers" "0" "$?"
echo "passed $pass, failed $fail"
[ "$fail" -eq 0 ]
