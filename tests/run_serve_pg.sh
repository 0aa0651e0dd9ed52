#!/usr/bin/env bash
# issue 11 points 1 and 2 with real PostgreSQL clients against `tributary serve`:
# psql (queries, \d, \dt, \d NAME, errors with caret, read-only), node-postgres,
# PgJDBC with prepared statements and metadata, pgbench with a custom script, the
# password (--token) and the loopback rule. SKIP (77) when a client is missing.
# Env: TB_BIN, TB_SRCDIR, TB_BUILD.
set -uo pipefail
BIN=${TB_BIN:?}
SRC=${TB_SRCDIR:?}
. "$SRC/tests/lib_serve.sh"
T=$(mktemp -d /tmp/tb-servepg-XXXXXX)
trap 'serve_cleanup; rm -rf "$T"' EXIT
pass=0 fail=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1"; echo "  expected: $(printf '%q' "$2")"
    echo "  actual:   $(printf '%q' "$3")"
  fi
}
command -v psql > /dev/null || { echo "SKIP: psql missing (postgresql-client-15)"; exit 77; }

serve_start "$T/serve.log" serve --pg 0 --http 0 "$SRC/tests/serve/catalog.sql" || exit 1
P="psql -X -h 127.0.0.1 -p $PG_PORT -U tester -d tributary"
check "psql select" "books|5
toys|5" "$($P -At -c 'SELECT category, total_quantity FROM totals ORDER BY 1')"
check "psql \\d" "public|sales|table|tester
public|totals|view|tester" "$($P -At -c '\d')"
check "psql \\dt" "public|sales|table|tester" "$($P -At -c '\dt')"
check "psql \\d sales" ' sale_id  | integer                     |           |          | 
 category | text                        |           |          | 
 quantity | bigint                      |           |          | 
 ok       | boolean                     |           |          | 
 price    | double precision            |           |          | 
 ts       | timestamp without time zone |           |          | ' "$($P -c '\d sales' | sed -n '4,9p')"
check "psql \\d title" '                          Table "public.sales"' "$($P -c '\d sales' | head -1)"
check "psql \\d totals is a view" 'View "public.totals"' "$($P -c '\d totals' | head -1 | sed 's/^ *//')"
check "psql \\d missing" 'Did not find any relation named "nope".' "$($P -c '\d nope' 2>&1)"
$P -c 'SELECT qty FROM sales' > "$T/out" 2>&1
check "psql error with caret" 'ERROR:  column "qty" does not exist (candidates: quantity)
LINE 1: SELECT qty FROM sales
               ^' "$(sed 's/ (candidates:[^)]*)/ (candidates: quantity)/' "$T/out")"
check "psql read-only" "ERROR:  cannot execute UPDATE in a read-only transaction" \
  "$($P -c "UPDATE sales SET quantity = 0" 2>&1)"
check "psql version()" "1" "$($P -At -c 'SELECT version()' | grep -c '^PostgreSQL 15.0 (Tributary')"
# output columns named as PostgreSQL names them: a function call after the function
check "psql column names of function calls" \
  "version,now,count,current_setting,current_database,current_schema,current_user,v,?column?" \
  "$($P --csv -c "SELECT version(), now(), count(*), current_setting('server_version'), current_database(),
      current_schema(), current_user, current_setting('server_version') AS v, 1 + 1" | head -1)"
check "psql session functions inside expressions" "t|t|1" \
  "$($P -At -c "SELECT version() LIKE 'PostgreSQL 15%', current_setting('server_version') LIKE '15.0%', count(*)
      FROM sales WHERE current_schema() = 'public' AND sale_id = 1")"
check "psql SET/SHOW" "2s" "$($P -At -c "SET statement_timeout = '2s'" -c 'SHOW statement_timeout' | tail -1 | sed 's/000ms/s/')"

# node-postgres
if need_node_modules; then
  NODE_PATH=$SERVE_NODE_PATH node "$SERVE_JS/node_pg.mjs" "$PG_PORT" > "$T/node.out" 2>&1
  check "node-postgres client" "0" "$?"
  cat "$T/node.out"
else
  echo "SKIP: node-postgres part"
fi

# PgJDBC (extended protocol, server-prepared statements after prepareThreshold, binary)
JAR=/usr/share/java/postgresql.jar
if command -v java > /dev/null && [ -f "$JAR" ]; then
  (cd "$T" && timeout 120 java -cp "$JAR" "$SRC/tests/serve/Jdbc.java" "$PG_PORT") > "$T/jdbc.out" 2>&1
  check "PgJDBC client" "0" "$?"
  grep -v '^ok ' "$T/jdbc.out" | head -20
  echo "PgJDBC: $(grep -c '^ok ' "$T/jdbc.out") checks"
else
  echo "SKIP: PgJDBC part (apt-get install libpostgresql-jdbc-java)"
fi

# pgbench with a custom script (simple and extended protocol), 4 clients
if command -v pgbench > /dev/null; then
  for mode in simple extended prepared; do
    pgbench -n -h 127.0.0.1 -p "$PG_PORT" -U bench -M $mode -c 4 -j 2 -t 50 \
      -f "$SRC/tests/serve/pgbench_select.sql" tributary > "$T/pgb.out" 2>&1
    check "pgbench -M $mode" "200/200" "$(sed -n 's/^number of transactions actually processed: \([0-9/]*\).*/\1/p' "$T/pgb.out")"
    grep -q 'number of failed transactions: 0' "$T/pgb.out" || { grep -i error "$T/pgb.out" | head -3; }
  done
fi

# --token: password; a non-loopback address needs one
serve_start "$T/tok.log" serve --pg 0 --token s3cret "$SRC/tests/serve/catalog.sql" || exit 1
check "wrong password refused" "1" "$(PGPASSWORD=nope psql -X -h 127.0.0.1 -p "$PG_PORT" -U u -d x -c 'SELECT 1' 2>&1 | grep -c 'password authentication failed')"
check "right password" "3" "$(PGPASSWORD=s3cret psql -X -At -h 127.0.0.1 -p "$PG_PORT" -U u -d x -c 'SELECT count(*) FROM sales')"
"$BIN" serve --pg 0.0.0.0:0 "$SRC/tests/serve/catalog.sql" > "$T/out" 2>&1
check "non-loopback without --token: exit 1" "1" "$?"
check "non-loopback without --token: message" "1" "$(grep -c 'needs --token' "$T/out")"

echo "passed $pass, failed $fail"
[ "$fail" -eq 0 ]
