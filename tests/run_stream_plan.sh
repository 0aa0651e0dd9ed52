#!/usr/bin/env bash
# Plan once for every operator kind (issue 9 point 1): continuous queries whose plans hold
# a nested-loop join (a non-equi join with a static Parquet table, an EXISTS over a
# static CSV table: a semi nested-loop join), a per-row apply (a correlated scalar
# subquery), an uncorrelated scalar subquery and an IN (subquery) filter, a hash join
# with a static CSV table and one with an aggregate over it: each runs several batches
# planned once (progress numPlans stays 1, no "planned per batch" in the log), and each
# view ends equal to the batch answer over every input file. A static table semi-joined
# with a subquery over the stream (the stream on the build side) is the exception: the
# built side cannot be kept, so it is planned per batch, and its view holds each batch's
# answer (no stale build side).
# Env: TB_BIN.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
T=$(mktemp -d /tmp/tb-splan-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"
  else fail=$((fail + 1)); echo "FAIL $1"; echo "  expected: $2"; echo "  actual:   $3"; fi
}
wait_batches() { # progress-file n (lines of every query)
  for _ in $(seq 900); do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "timeout waiting for $2 progress lines in $1"; return 1
}
put() { # dir name content: a file appears at once (hidden name, then rename)
  printf "$3" > "$1/.$2.tmp" && mv "$1/.$2.tmp" "$1/$2"
}
last_view() { awk '/^== /{buf=""; next} {buf = buf $0 "\n"} END{printf "%s", buf}' "$1"; }

D=$T; mkdir -p "$D/in"
printf 'pid,name\n1,one\n2,two\n3,three\n' > "$D/p.csv"
"$BIN" query --format csv "COPY (SELECT pid::int AS pid, name FROM read_csv('$D/p.csv')) TO '$D/p.parquet'" > /dev/null
# The view bodies, over s (the stream), p (Parquet) and pc (CSV).
VIEWS=(
  "nl|SELECT s.id, p.name AS x FROM s JOIN p ON s.pid < p.pid"
  "sc|SELECT id, (SELECT max(pid) FROM p) AS x FROM s"
  "in|SELECT id, pid AS x FROM s WHERE pid IN (SELECT pid FROM p WHERE name <> 'two')"
  "cor|SELECT id, (SELECT name FROM p WHERE p.pid = s.pid) AS x FROM s"
  "ex|SELECT id, pid AS x FROM s WHERE EXISTS (SELECT 1 FROM pc WHERE pc.pid > s.pid)"
  "csv|SELECT s.id, pc.name AS x FROM s JOIN pc USING (pid)"
  "agg|SELECT s.id, c.n AS x FROM s JOIN (SELECT pid, count(*) AS n FROM pc GROUP BY pid) c USING (pid)"
)
# The stream on the build side: per batch, the products its rows name.
RIN="SELECT pid AS id, name AS x FROM p WHERE pid IN (SELECT pid FROM s)"
{
  echo "CREATE TABLE p (pid int, name text) WITH (connector = 'parquet', path = '$D/p.parquet');"
  echo "CREATE TABLE pc (pid int, name text) WITH (connector = 'csv', path = '$D/p.csv');"
  echo "CREATE TABLE s (id int, pid int) WITH (connector = 'files', format = 'csv', path = '$D/in');"
  for v in "${VIEWS[@]}"; do echo "CREATE MATERIALIZED VIEW v_${v%%|*} AS ${v#*|};"; done
  echo "CREATE MATERIALIZED VIEW v_rin AS $RIN;"
} > "$D/job.sql"
show=""; batch=""
for v in "${VIEWS[@]}"; do
  n=${v%%|*}
  show+="${show:+ UNION ALL }SELECT '$n' AS v, id::text AS id, x::text AS x FROM v_$n"
  batch+="${batch:+ UNION ALL }SELECT '$n' AS v, id::text AS id, x::text AS x FROM (${v#*|}) q"
done
show+=" UNION ALL SELECT 'rin' AS v, id::text AS id, x::text AS x FROM v_rin"
for f in a b c; do # one batch per file: each batch's own answer
  batch+=" UNION ALL SELECT 'rin' AS v, id::text AS id, x::text AS x FROM (${RIN/FROM s)/FROM s_$f)}) q"
done

"$BIN" run "$D/job.sql" --checkpoint "$D/ckpt" --trigger '100 milliseconds' --format csv \
  --log-level debug --show "$show ORDER BY 1, 2, 3" --every '1 hour' --idle-stop '3 seconds' \
  --stop-after '120 seconds' --progress "$D/p.jsonl" > "$D/run.out" 2> "$D/err.txt" &
JOB=$!
NV=$((${#VIEWS[@]} + 1))
put "$D/in" a.csv 'id,pid\n1,1\n2,2\n'
wait_batches "$D/p.jsonl" "$NV"
put "$D/in" b.csv 'id,pid\n3,3\n4,1\n5,0\n'
wait_batches "$D/p.jsonl" $((2 * NV))
put "$D/in" c.csv 'id,pid\n6,2\n7,5\n'
wait_batches "$D/p.jsonl" $((3 * NV))
st=0; wait $JOB || st=$?
check "job exit" 0 "$st"
plans=$(python3 -c "
import json, collections
n = collections.defaultdict(set); b = collections.Counter()
for l in open('$D/p.jsonl'):
    d = json.loads(l); n[d['name']].add(d['numPlans']); b[d['name']] += 1
print(' '.join('%s:%s:%d' % (k, sorted(n[k]), b[k]) for k in sorted(n)))")
want=$({ for v in "${VIEWS[@]}"; do echo "v_${v%%|*}:[1]:3"; done; echo "v_rin:[1, 2, 3]:3"; } |
  sort | tr '\n' ' ' | sed 's/ $//')
check "every query planned once over its 3 batches, the stream-build-side one per batch (name:numPlans:batches)" \
  "$want" "$plans"
check "only the stream-build-side query planned per batch" "v_rin: a hash join whose build side reads the stream cannot be re-executed: planned per batch" \
  "$(grep -io 'v_[a-z]*: .*planned per batch' "$D/err.txt" || true)"
# The batch answer: the same bodies over every input file.
ctes="WITH s AS (SELECT id::int AS id, pid::int AS pid FROM read_csv('$D/in/*.csv')),
  p AS (SELECT * FROM read_parquet('$D/p.parquet')),
  pc AS (SELECT pid::int AS pid, name FROM read_csv('$D/p.csv')),
  s_a AS (SELECT pid::int AS pid FROM read_csv('$D/in/a.csv')),
  s_b AS (SELECT pid::int AS pid FROM read_csv('$D/in/b.csv')),
  s_c AS (SELECT pid::int AS pid FROM read_csv('$D/in/c.csv'))"
expect=$("$BIN" query --format csv "$ctes $batch ORDER BY 1, 2, 3")
got=$(last_view "$D/run.out")
check "the views equal the batch answer" "$expect" "$got"
[ "$(echo "$expect" | wc -l)" -gt 20 ] && check "the batch answer has rows of every view" \
  "$NV" "$(echo "$expect" | tail -n +2 | cut -d, -f1 | sort -u | wc -l)"

echo "pass $pass fail $fail"
[ "$fail" = 0 ]
