#!/usr/bin/env bash
# Reading PostgreSQL (issue 12, point 4) from a real PostgreSQL 15 started here:
#  1. read_postgres(dsn, 'SELECT ...'): every mapped type, NULLs, text with tabs,
#     newlines and backslashes, against psql's own rendering of the same query;
#  2. CREATE TABLE ... WITH (connector = 'postgres', table | query) in batch queries:
#     declared columns (a projection), discovered columns, a join with a CSV file;
#  3. the static side of a stream-static join, with a products row changed while the
#     job runs: refresh = 'every batch' sees it from the next batch on, 'never' keeps
#     the first read, an interval re-reads once it has passed;
#  4. errors: unknown relation, bad DSN, unknown option, bad refresh, a value the
#     declared type cannot hold, infinity timestamps, server down (retries exhausted).
# Env: TB_BIN, TB_SRCDIR; TB_KEEP=1 keeps the work directory.
set -uo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
T=$(mktemp -d /tmp/tb-pgread-XXXXXX)
JOBPID=
cleanup() {
  [ -n "$JOBPID" ] && kill -9 "$JOBPID" 2> /dev/null || true
  if [ -n "${TB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
. "$SRC/tests/lib_pg.sh"
pg_start || exit 1
. "$SRC/tests/lib_check.sh"
q() { "$BIN" query --format csv "$@"; }
expect_err() { # name regex sql
  local st=0
  q "$3" > "$T/err.out" 2> "$T/err.txt" || st=$?
  if grep -qE 'AddressSanitizer|runtime error:' "$T/err.txt"; then bad "$1: sanitizer report"; head -20 "$T/err.txt"; return; fi
  if [ "$st" != 0 ] && grep -qE -- "$2" "$T/err.txt"; then
    ok "$1: $(head -1 "$T/err.txt" | cut -c1-200)"
  else
    bad "$1 (exit $st)"; head -5 "$T/err.txt"
  fi
}

pg_psql > /dev/null <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, b boolean, i16 smallint, i64 bigint, f32 real,
  f64 double precision, dec numeric(12,3), num numeric, s text, vc varchar(10), ch char(3),
  d date, ts timestamp, tstz timestamptz, iv interval, u uuid, j jsonb);
INSERT INTO t VALUES
 (1, true, -32768, -9223372036854775808, 1.25, 1e-300, -123456789.125, 1.5, 'plain', 'vc', 'ab',
  '2024-02-29', '2024-02-29 23:59:59.999999', '2024-01-01 12:00:00+02', '1 year 2 mons 3 days 04:05:06.5',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}'),
 (2, false, 32767, 9223372036854775807, -0.5, 'Infinity', 0, 'NaN', E'tab\there\nnew \\ line', '',
  'x', '1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '-00:00:01', NULL, 'null'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, true, 0, 0, 0, '-Infinity', 0.001, -1e10, E'\u00e9t\u00e9 \U0001F600', 'ten chars!', 'abc',
  '0001-01-01', '2262-04-11 23:47:16', '2000-06-30 23:59:59.5-07', '-1 days +02:00:00', NULL, '[]');
CREATE TABLE products (product_id int PRIMARY KEY, category text);
INSERT INTO products SELECT i, 'cat' || (i % 5) FROM generate_series(1, 100) i;
SQL

# 1. Every type, against psql's text of the same rows.
COLS="id, b, i16, i64, f32, f64, dec, num, s, vc, ch, d, ts, tstz, iv, u, j"
q "SELECT * FROM read_postgres('$PG_DSN', 'SELECT $COLS FROM t') ORDER BY id" > "$T/got1.csv"
pg_psql --csv -c "SET TimeZone = 'UTC'" -c "SET extra_float_digits = 0" -c "SELECT id,
  CASE WHEN b THEN 'true' WHEN NOT b THEN 'false' END AS b, i16, i64, f32, f64, dec,
  CASE WHEN num = 'NaN' THEN 'NaN' ELSE num::float8::text END AS num, s, vc, ch, d, ts,
  to_char(tstz, 'YYYY-MM-DD HH24:MI:SS.US') AS tstz, iv, u, j FROM t ORDER BY id" \
  | sed -e 's/\.000000"\?,/,/; s/\(:[0-9][0-9]\.[0-9]*[1-9]\)0*,/\1,/' \
        -e 's/,1e-300,/,1e-300,/' > "$T/exp1.csv"
# psql and Tributary agree except for renderings fixed here: timestamptz is read as a
# UTC timestamp, unconstrained numeric as double precision.
check "read_postgres: every mapped type = psql's rendering" "$T/exp1.csv" "$T/got1.csv"
n=$(q "SELECT count(*) FROM read_postgres('$PG_URL', 'SELECT * FROM generate_series(1, 100000) g;')" | tail -1)
[ "$n" = 100000 ] && ok "read_postgres with a URI DSN: 100000 rows through COPY" || bad "generate_series count: $n"

# 2. Static tables in batch queries.
q "CREATE TABLE p (product_id int, category text) WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'public.products');
   SELECT category, count(*) AS n FROM p GROUP BY 1 ORDER BY 1" > "$T/got2.csv"
pg_psql --csv -c "SELECT category, count(*) AS n FROM products GROUP BY 1 ORDER BY 1" > "$T/exp2.csv"
check "declared postgres table, aggregated" "$T/exp2.csv" "$T/got2.csv"
q "CREATE TABLE p () WITH (connector = 'postgres', dsn = '$PG_DSN', query = 'SELECT product_id, upper(category) AS c FROM products WHERE product_id <= 3');
   SELECT * FROM p ORDER BY 1" > "$T/got3.csv"
printf 'product_id,c\n1,CAT1\n2,CAT2\n3,CAT3\n' > "$T/exp3.csv"
check "query = '...' table with discovered columns" "$T/exp3.csv" "$T/got3.csv"
printf 'product_id,qty\n1,5\n2,7\n2,1\n101,9\n' > "$T/sales.csv"
q "CREATE TABLE p (product_id int, category text) WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'products', refresh = 'never');
   SELECT category, sum(qty) AS q FROM read_csv('$T/sales.csv') s JOIN p USING (product_id) GROUP BY 1 ORDER BY 1" > "$T/got4.csv"
printf 'category,q\ncat1,5\ncat2,8\n' > "$T/exp4.csv"
check "join of a CSV file with a postgres table" "$T/exp4.csv" "$T/got4.csv"

# 3. A products row changed while the stream runs.
changed_mid_stream() { # refresh expect-new-category-after-change(yes|no) [sleep before B]
  local R=$1 D=$T/s_${1// /_}
  mkdir -p "$D/sales"
  pg_psql -c "UPDATE products SET category = 'cat' || (product_id % 5)" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS out_j" > /dev/null
  cat > "$D/job.sql" <<SQL
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'products', refresh = '$R');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '$D/sales');
CREATE MATERIALIZED VIEW j AS SELECT sale_id, category FROM sales JOIN products USING (product_id);
CREATE TABLE out_j (sale_id int, category text) WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'out_j');
INSERT INTO out_j SELECT * FROM j;
SQL
  "$BIN" run "$D/job.sql" --trigger '100 milliseconds' --stop-after '90 seconds' \
    --checkpoint "$D/ckpt" --quiet 2> "$D/run.err" &
  JOBPID=$!
  "$BIN" generate sales --out "$D/sales" --rows 100 --files 1 --first-file 0 --first-id 1 --seed 1 --products 100 > /dev/null
  # rows whose product exists (the generator makes a few without one)
  local na nb
  na=$(q "SELECT count(*) FROM read_csv('$D/sales') JOIN read_postgres('$PG_DSN', 'SELECT product_id FROM products') USING (product_id)" | tail -1)
  for ((w = 0; w < 300; w++)); do
    [ "$(pg_psql -At -c "SELECT count(*) FROM out_j" 2> /dev/null)" = "$na" ] && break
    sleep 0.1
  done
  pg_psql -c "UPDATE products SET category = 'changed'" > /dev/null
  [ -n "${3:-}" ] && sleep "$3"
  "$BIN" generate sales --out "$D/sales" --rows 100 --files 1 --first-file 1 --first-id 101 --seed 2 --products 100 > /dev/null
  # every row of B has a product (all are 'changed' now): wait for them, then stop
  nb=$(q "SELECT count(*) FROM read_csv('$D/sales') JOIN read_postgres('$PG_DSN', 'SELECT product_id FROM products') USING (product_id) WHERE sale_id > 100" | tail -1)
  for ((w = 0; w < 600; w++)); do
    [ "$(pg_psql -At -c "SELECT count(*) FROM out_j" 2> /dev/null)" = "$((na + nb))" ] && break
    kill -0 $JOBPID 2> /dev/null || break
    sleep 0.1
  done
  kill -INT $JOBPID 2> /dev/null
  wait $JOBPID
  JOBPID=
  local a b
  a=$(pg_psql -At -c "SELECT count(*) FILTER (WHERE category = 'changed') || '/' || count(*) FROM out_j WHERE sale_id <= 100")
  b=$(pg_psql -At -c "SELECT count(*) FILTER (WHERE category = 'changed') || '/' || count(*) FROM out_j WHERE sale_id > 100")
  if grep -qE 'AddressSanitizer|runtime error:' "$D/run.err"; then bad "refresh '$R': sanitizer report"; head "$D/run.err"; return; fi
  local want="$nb/$nb"
  [ "$2" = no ] && want="0/$nb"
  if [ "$a" = "0/$na" ] && [ "$b" = "$want" ]; then
    ok "refresh = '$R': rows before the change: $a changed; after: $b changed"
  else
    bad "refresh = '$R': before $a changed (want 0/$na), after $b (want $want)"; head -5 "$D/run.err"
  fi
}
changed_mid_stream 'every batch' yes
changed_mid_stream 'never' no
changed_mid_stream '1 hour' no
changed_mid_stream '1 second' yes 1.5

# 4. Errors.
expect_err "unknown relation" 'read_postgres: relation "nope" does not exist \(SQLSTATE 42P01\)' \
  "SELECT * FROM read_postgres('$PG_DSN', 'SELECT * FROM nope')"
expect_err "bad DSN" 'read_postgres: bad dsn: .*invalid connection option "colour"' \
  "SELECT * FROM read_postgres('colour=red', 'SELECT 1')"
expect_err "unknown option" 'unknown option bogus' \
  "SELECT * FROM read_postgres('$PG_DSN', 'SELECT 1', bogus => 'x')"
expect_err "bad refresh" "refresh must be 'every batch', 'never' or an interval" \
  "SELECT * FROM read_postgres('$PG_DSN', 'SELECT 1', refresh => 'sometimes')"
expect_err "table and query both" 'exactly one of table' \
  "CREATE TABLE x (a int) WITH (connector = 'postgres', dsn = '$PG_DSN', table = 't', query = 'SELECT 1'); SELECT * FROM x"
expect_err "value too big for the declared type" 'postgres table \(table t\): row 1: column "i64": not an integer: "-9223372036854775808"' \
  "CREATE TABLE x (id int, i64 int) WITH (connector = 'postgres', dsn = '$PG_DSN', table = 't'); SELECT * FROM x ORDER BY id"
pg_psql -c "CREATE TABLE inf (ts timestamp); INSERT INTO inf VALUES ('2024-01-01'), ('infinity')" > /dev/null
expect_err "infinity timestamp" 'row 2: column "ts": not a timestamp \(infinity and BC times are not read\): "infinity"' \
  "SELECT * FROM read_postgres('$PG_DSN', 'SELECT ts FROM inf')"
expect_err "declared column missing in PostgreSQL" 'column "nope" does not exist' \
  "CREATE TABLE x (id int, nope int) WITH (connector = 'postgres', dsn = '$PG_DSN', table = 't'); SELECT * FROM x"
FREE=$(_pg_free_port)
expect_err "server down" 'cannot connect \(retries exhausted\).*\[2 attempts\]' \
  "SELECT * FROM read_postgres('host=127.0.0.1 port=$FREE user=postgres', 'SELECT 1', retries => '1', retry_backoff => '50 ms')"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
