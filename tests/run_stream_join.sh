#!/usr/bin/env bash
# Stream-static joins (issue 4 point 4): INNER and LEFT OUTER joins of a CSV stream with
# a static table, over two batches (files fed between them, the job restarted on its
# checkpoint), compared with the batch answer over all files.
# Env: TB_BIN.
set -euo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
T=$(mktemp -d /tmp/tb-sjoin-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/in"
printf "pid,name\n1,one\n2,two\n3,three\n" > "$T/p.csv"
cat > "$T/job.sql" <<SQL
CREATE TABLE p (pid int, name text) WITH (connector = 'csv', path = '$T/p.csv');
CREATE TABLE s (id int, pid int) WITH (connector = 'files', format = 'csv', path = '$T/in');
CREATE MATERIALIZED VIEW lj AS SELECT s.id, s.pid, p.name FROM s LEFT JOIN p ON s.pid = p.pid;
CREATE MATERIALIZED VIEW ij AS SELECT s.id, p.name FROM s JOIN p USING (pid);
CREATE MATERIALIZED VIEW agg AS
  SELECT p.name, count(*) AS n, sum(s.id) AS ids FROM s LEFT OUTER JOIN p USING (pid) GROUP BY 1;
SQL
run() { # SQL to show
  "$BIN" run "$T/job.sql" --checkpoint "$T/ckpt" --trigger available-now --quiet \
    --format csv --every "1 hour" --show "$1" | tail -n +4
}
pass=0
fail=0
check() {
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"
  else fail=$((fail + 1)); echo "FAIL $1"; echo "  expected: $2"; echo "  actual:   $3"; fi
}
printf "id,pid\n1,1\n2,99\n3,2\n" > "$T/in/a.csv"
run "SELECT count(*) FROM lj" > /dev/null
printf "id,pid\n4,3\n5,\n6,1\n" > "$T/in/.b.tmp" && mv "$T/in/.b.tmp" "$T/in/b.csv"
batch() { # the same query over all the files, as a batch
  "$BIN" query --format csv "CREATE TABLE p (pid int, name text) WITH (connector = 'csv', path = '$T/p.csv');
    CREATE TABLE s (id int, pid int) WITH (connector = 'csv', path = '$T/in');
    $1" | tail -n +2
}
for q in "SELECT id, pid, name FROM lj ORDER BY id" "SELECT id, name FROM ij ORDER BY id" \
         "SELECT name, n, ids FROM agg ORDER BY name NULLS FIRST"; do
  got=$(run "$q")
  want=$(batch "$(echo "$q" | sed 's/id, pid, name FROM lj/s.id, s.pid, name FROM s LEFT JOIN p ON s.pid = p.pid/;
    s/FROM ij/FROM s JOIN p USING (pid)/;
    s/name, n, ids FROM agg/p.name, count(*) AS n, sum(s.id) AS ids FROM s LEFT JOIN p USING (pid) GROUP BY 1/')")
  check "$q" "$want" "$got"
done
# the LEFT JOIN keeps the unmatched rows (pid 99 and NULL) with a NULL name
check "unmatched rows kept" "2,99,
5,," "$(run "SELECT id, pid, name FROM lj WHERE name IS NULL ORDER BY id")"
echo "stream joins: $pass passed, $fail failed"
[ "$fail" = 0 ]
