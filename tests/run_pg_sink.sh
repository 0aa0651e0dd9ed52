#!/usr/bin/env bash
# The PostgreSQL sink (issue 12) against a real PostgreSQL 15 started here (lib_pg.sh):
#  1. the reference job with products read from PostgreSQL and its results written in
#     complete (replace), update (upsert) and append (COPY) modes: each table equals the
#     batch answer, after a first run and after a restart with more files;
#  2. the type mapping: every type written, the created columns' PostgreSQL types, the
#     values read back by psql;
#  3. faults: server down at start (retries exhausted: clear error; server up within
#     the retries: the job runs), wrong password (no retry), permission denied, a check
#     constraint violated, a value that does not fit, an existing table whose columns
#     do not fit, upsert without a unique key, a connection killed inside a batch's
#     transaction (the batch is sent again). Failed batches leave nothing committed.
# Env: TB_BIN, TB_SRCDIR; TB_KEEP=1 keeps the work directory.
set -uo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
T=$(mktemp -d /tmp/tb-pgsink-XXXXXX)
cleanup() { if [ -n "${TB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT
. "$SRC/tests/lib_pg.sh"
pg_start || exit 1
. "$SRC/tests/lib_check.sh"
expect_err() { # name stderr-file status regex...: nonzero status and every regex in stderr
  local name=$1 f=$2 st=$3; shift 3
  sane "$f" "$name" || return
  if [ "$st" = 0 ]; then bad "$name: exited 0"; head -5 "$f"; return; fi
  for re in "$@"; do
    if ! grep -qE -- "$re" "$f"; then bad "$name: no /$re/ in the error"; head -5 "$f"; return; fi
  done
  ok "$name: $(grep -m1 -E 'ERROR|error' "$f" | cut -c1-230)"
}
psql_csv() { pg_psql --csv -c "$1"; }

D=$T/d
mkdir -p "$D/sales"
"$BIN" generate products --out "$D/products.parquet" --products 100
"$BIN" query "COPY (SELECT * FROM read_parquet('$D/products.parquet')) TO '$D/products.csv' (FORMAT csv, HEADER true)" > /dev/null
pg_psql -c "CREATE TABLE products (product_id int PRIMARY KEY, category text)" \
  -c "\\copy products FROM '$D/products.csv' CSV HEADER" > /dev/null
gen() { # first count
  for ((k = $1; k < $1 + $2; k++)); do
    "$BIN" generate sales --out "$D/sales" --rows 300 --files 1 --first-file "$k" \
      --first-id $((k * 300 + 1)) --seed $((700 + k)) --products 100 \
      --start "$(date -u -d "2024-05-01 12:00:00 UTC + $((k * 6)) seconds" '+%Y-%m-%d %H:%M:%S')" \
      --rate 50 > /dev/null
  done
}
JOB=(run "$SRC/tests/pg/job_pg.sql" --set DSN="$PG_DSN" --set DATA="$D" --set MAXF=2
     --set REFRESH='every batch' --set RETRIES=3 --checkpoint "$D/ckpt" --quiet)
answers() { # check the three tables against the batch answer; $1 = label
  "$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
      sum(quantity) AS total_quantity
    FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
    GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect_c.csv"
  "$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
      sum(quantity) AS total_quantity, count(*) AS n
    FROM read_csv('$D/sales') JOIN read_parquet('$D/products.parquet') USING (product_id)
    GROUP BY 1, 2 ORDER BY 1, 2" > "$T/expect_u.csv"
  "$BIN" query --format csv "SELECT sale_id, product_id, quantity, ts FROM read_csv('$D/sales')
    ORDER BY 1" > "$T/expect_r.csv"
  psql_csv "SELECT window_start, category, total_quantity FROM out_complete ORDER BY 1, 2" > "$T/got_c.csv"
  psql_csv "SELECT window_start, category, total_quantity, n FROM out_update ORDER BY 1, 2" > "$T/got_u.csv"
  psql_csv "SELECT sale_id, product_id, quantity, ts FROM out_raw ORDER BY 1" > "$T/got_r.csv"
  check "$1: complete mode table = batch answer" "$T/expect_c.csv" "$T/got_c.csv"
  check "$1: update mode table (upserts) = batch answer" "$T/expect_u.csv" "$T/got_u.csv"
  check "$1: append mode table (COPY) = every input row once" "$T/expect_r.csv" "$T/got_r.csv"
}

# 1. Three modes, then a restart with more files.
gen 0 6
st=0
"$BIN" "${JOB[@]}" --trigger available-now 2> "$T/run1.err" || st=$?
sane "$T/run1.err" "run 1" && { [ "$st" = 0 ] && ok "run 1 (6 files, 3 batches)" || { bad "run 1 exited $st"; head "$T/run1.err"; }; }
answers "run 1"
n=$(psql_csv "SELECT count(*) FROM tributary_progress WHERE batch_id = 2" | tail -1)
[ "$n" = 3 ] && ok "progress rows: 3 sinks at batch 2" || bad "progress rows at batch 2: $n"
gen 6 4
st=0
"$BIN" "${JOB[@]}" --trigger available-now 2> "$T/run2.err" || st=$?
sane "$T/run2.err" "run 2" && { [ "$st" = 0 ] && ok "run 2 (restart, 4 more files)" || { bad "run 2 exited $st"; head "$T/run2.err"; }; }
answers "run 2"
# the key of the upsert table (the query's group keys) and the created types
pk=$(pg_psql -At -c "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a
  ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'out_update'::regclass
  AND i.indisprimary" | tail -1)
[ "$pk" = "category,window_start" ] && ok "out_update created with PRIMARY KEY (window_start, category)" \
  || bad "out_update primary key: '$pk'"

# 2. Type mapping: one row per value kind, NULLs, text that needs COPY escapes.
mkdir -p "$D/types"
cat > "$D/types/t1.csv" <<'CSV'
id,b,i16,i32,i64,f32,f64,dec,s,d,ts,iv
1,true,-32768,-2147483648,-9223372036854775807,1.5,-0.1,-12345.67,plain,2024-02-29,2024-02-29 23:59:59.123456,1 day 02:03:04
2,false,32767,2147483647,9223372036854775807,-3.25,1e300,99999999.99,"tab	and ""quote"" and \ back",1970-01-01,1970-01-01 00:00:00,-3 hours
3,,,,,,,,,,,
4,true,0,0,0,0,Infinity,0.00,"multi
line",0001-01-01,2038-01-19 03:14:08,1 year 2 mons 3 days
CSV
cat > "$D/types.sql" <<SQL
CREATE TABLE types_in (id int, b boolean, i16 smallint, i32 int, i64 bigint, f32 real,
  f64 double precision, dec numeric(10,2), s text, d date, ts timestamp, iv interval)
  WITH (connector = 'files', format = 'csv', path = '$D/types', header = 'true');
CREATE MATERIALIZED VIEW types_v AS SELECT * FROM types_in;
CREATE TABLE out_types (id int, b boolean, i16 smallint, i32 int, i64 bigint, f32 real,
  f64 double precision, dec numeric(10,2), s text, d date, ts timestamp, iv interval)
  WITH (connector = 'postgres', dsn = '$PG_URL', table = 'out_types', key = 'id');
INSERT INTO out_types SELECT * FROM types_v;
SQL
st=0
"$BIN" run "$D/types.sql" --trigger available-now --quiet 2> "$T/types.err" || st=$?
sane "$T/types.err" "types" && { [ "$st" = 0 ] && ok "types job" || { bad "types job exited $st"; head "$T/types.err"; }; }
pg_psql -At -c "SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
  FROM pg_attribute a WHERE a.attrelid = 'out_types'::regclass AND a.attnum > 0" | tail -1 > "$T/types_got.txt"
echo "id integer, b boolean, i16 smallint, i32 integer, i64 bigint, f32 real, f64 double precision, dec numeric(10,2), s text, d date, ts timestamp without time zone, iv interval" > "$T/types_exp.txt"
check "created column types follow the mapping" "$T/types_exp.txt" "$T/types_got.txt"
cat > "$T/values_exp.csv" <<'CSV'
id,b,i16,i32,i64,f32,f64,dec,s,d,ts,iv
1,t,-32768,-2147483648,-9223372036854775807,1.5,-0.1,-12345.67,plain,2024-02-29,2024-02-29 23:59:59.123456,1 day 02:03:04
2,f,32767,2147483647,9223372036854775807,-3.25,1e+300,99999999.99,"tab	and ""quote"" and \ back",1970-01-01,1970-01-01 00:00:00,-03:00:00
3,,,,,,,,,,,
4,t,0,0,0,0,Infinity,0.00,"multi
line",0001-01-01,2038-01-19 03:14:08,1 year 2 mons 3 days
CSV
pg_psql --csv -c "SET extra_float_digits = 0" -c "SELECT * FROM out_types ORDER BY id" > "$T/values_got.csv"
check "values as psql reads them" "$T/values_exp.csv" "$T/values_got.csv"
# and read back through read_postgres: the same rows as the CSV source
"$BIN" query --format csv "SELECT * FROM read_csv('$D/types', header => true,
  schema => 'id int, b boolean, i16 smallint, i32 int, i64 bigint, f32 real, f64 double precision, dec numeric(10,2), s text, d date, ts timestamp, iv interval') ORDER BY id" > "$T/rt_exp.csv"
"$BIN" query --format csv "SELECT * FROM read_postgres('$PG_DSN', 'SELECT * FROM out_types') ORDER BY id" > "$T/rt_got.csv"
check "round trip: read_postgres of the sink's table = the source rows" "$T/rt_exp.csv" "$T/rt_got.csv"

# 3. Faults. A small job over one file, written to table $2 with extra options $3.
mkdir -p "$D/f"
"$BIN" generate sales --out "$D/f" --rows 50 --files 1 --seed 5 --products 100 > /dev/null
# 20,000 rows: a batch larger than the sink's 256 KiB streaming threshold, whose rows
# go to PostgreSQL while the batch is still being written
mkdir -p "$D/big"
"$BIN" generate sales --out "$D/big" --rows 20000 --files 1 --seed 6 --products 100 > /dev/null
FDIR=$D/f
fault_job() { # file table options [dsn]
  cat > "$1" <<SQL
CREATE TABLE s (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '$FDIR');
CREATE MATERIALIZED VIEW v AS SELECT sale_id, product_id, quantity, ts FROM s;
CREATE TABLE $2 (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'postgres', dsn = '${4:-$PG_DSN}', table = '$2'$3);
INSERT INTO $2 SELECT * FROM v;
SQL
}
run_fault() { # name table options [dsn] -> status in $st, stderr in $T/<name>.err
  fault_job "$T/$1.sql" "$2" "$3" "${4:-}"
  st=0
  timeout 60 "$BIN" run "$T/$1.sql" --trigger available-now --quiet 2> "$T/$1.err" > /dev/null || st=$?
}
nothing_committed() { # name table
  local n
  n=$(psql_csv "SELECT (SELECT count(*) FROM $2) + (SELECT count(*) FROM tributary_progress WHERE sink = '$2')" | tail -1)
  [ "$n" = 0 ] && ok "$1: no row and no progress committed" || bad "$1: $n rows/progress rows committed"
}

# server down at start: a port nobody listens on; 2 retries, then a clear error
FREE=$(_pg_free_port)
t0=$(date +%s%N)
run_fault down out_down ", retries = '2', retry_backoff = '100 ms'" "host=127.0.0.1 port=$FREE user=postgres dbname=postgres"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_err "server down at start" "$T/down.err" "$st" 'postgres sink "out_down"' 'retries exhausted' '3 attempts' 'Connection refused'
n=$(grep -c 'retrying' "$T/down.err")
[ "$n" = 2 ] && ok "server down: 2 retries logged, gave up after $ms ms (backoff 100 + 200 ms)" || bad "server down: $n retry lines"
# server stopped, started again 1.5 s later: within the retries (backoff 200 ms doubling)
pg_stop fast
fault_job "$T/late.sql" out_late ", retries = '6', retry_backoff = '200 ms'"
st=0
( sleep 1.5; _pg_start_on "$PGPORT" ) &
STARTER=$!
timeout 60 "$BIN" run "$T/late.sql" --trigger available-now --quiet 2> "$T/late.err" > /dev/null || st=$?
wait $STARTER
if sane "$T/late.err" "server late"; then
  n=$(psql_csv "SELECT count(*) FROM out_late" | tail -1)
  r=$(grep -c 'retrying' "$T/late.err")
  [ "$st" = 0 ] && [ "$n" = 50 ] && [ "$r" -ge 1 ] && ok "server up 1.5 s after the job started: $r retries, then 50 rows" \
    || { bad "server late: exit $st, $n rows, $r retries"; head -5 "$T/late.err"; }
fi

# wrong password: refused at once (no retry)
pg_psql -c "CREATE ROLE tb_pw LOGIN PASSWORD 'right'" > /dev/null
sed -i '1i host all tb_pw 127.0.0.1/32 scram-sha-256' "$PG_DIR/data/pg_hba.conf"
_pg_ctl -D "$PG_DIR/data" reload > /dev/null
sleep 0.3
run_fault auth out_auth "" "host=127.0.0.1 port=$PGPORT user=tb_pw password=wrong dbname=postgres"
expect_err "authentication failure" "$T/auth.err" "$st" 'postgres sink "out_auth"' 'password authentication failed'
grep -q retrying "$T/auth.err" && bad "authentication failure was retried" || ok "authentication failure not retried"

# permission denied: a role that may write the progress table but not the target
pg_psql -c "CREATE ROLE tb_ro LOGIN" -c "CREATE TABLE out_perm (sale_id int, product_id int, quantity int, ts timestamp)" \
  -c "GRANT SELECT, INSERT, UPDATE ON tributary_progress TO tb_ro" -c "GRANT USAGE ON SCHEMA public TO tb_ro" > /dev/null
run_fault perm out_perm "" "host=127.0.0.1 port=$PGPORT user=tb_ro dbname=postgres"
expect_err "permission denied" "$T/perm.err" "$st" 'postgres sink "out_perm" \(table out_perm\)' 'permission denied for table out_perm' '42501' 'batch 0 not committed'
nothing_committed "permission denied" out_perm

# a check constraint violated: PostgreSQL's detail names the failing row
pg_psql -c "CREATE TABLE out_chk (sale_id int, product_id int, quantity int CHECK (quantity < 3), ts timestamp)" > /dev/null
run_fault check out_chk ""
expect_err "check constraint" "$T/check.err" "$st" 'postgres sink "out_chk"' 'violates check constraint "out_chk_quantity_check"' '23514' 'Failing row contains' 'not committed'
nothing_committed "check constraint" out_chk

# values that do not fit: numeric(1,0) and varchar(2); the column and value are named
pg_psql -c "CREATE TABLE out_fit (sale_id int, product_id numeric(1,0), quantity int, ts timestamp)" > /dev/null
run_fault fit out_fit ""
expect_err "value does not fit numeric(1,0)" "$T/fit.err" "$st" 'postgres sink "out_fit"' 'numeric field overflow' 'column product_id: "[0-9]+"' 'not committed'
nothing_committed "value does not fit" out_fit

# an existing table whose columns do not fit: refused when the job starts
pg_psql -c "CREATE TABLE out_cols (sale_id int, product_id smallint, ts timestamp)" > /dev/null
run_fault cols out_cols ""
expect_err "existing table, narrower column" "$T/cols.err" "$st" 'column "product_id" is smallint in PostgreSQL.*the query gives integer'
pg_psql -c "ALTER TABLE out_cols ALTER product_id TYPE int" > /dev/null
run_fault cols2 out_cols ""
expect_err "existing table, missing column" "$T/cols2.err" "$st" 'has no column "quantity" \(its columns: sale_id, product_id, ts\)'
# upsert into an existing table without a unique key on the key columns
pg_psql -c "CREATE TABLE out_nokey (sale_id int, product_id int, quantity int, ts timestamp)" > /dev/null
run_fault nokey out_nokey ", mode = 'upsert', key = 'sale_id'"
expect_err "upsert without a unique key" "$T/nokey.err" "$st" 'upsert needs a primary key or unique index'
run_fault badopt out_bad ", colour = 'red'"
# update mode without key =: the group keys' output columns, as the sink names them
# (GROUP BY by position, the window named by its alias; the sink renames every column)
cat > "$T/dkey.sql" <<SQL
CREATE TABLE s (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '$D/f');
CREATE MATERIALIZED VIEW v AS
  SELECT sum(quantity) AS q, tumble(ts, INTERVAL '10 seconds') AS window_start, product_id % 3 AS k
  FROM s GROUP BY 2, 3;
CREATE TABLE out_dkey (total bigint, w timestamp, kind int)
  WITH (connector = 'postgres', dsn = '$PG_DSN', table = 'out_dkey', output_mode = 'update');
INSERT INTO out_dkey SELECT * FROM v;
SQL
st=0
timeout 60 "$BIN" run "$T/dkey.sql" --trigger available-now --quiet 2> "$T/dkey.err" > /dev/null || st=$?
if sane "$T/dkey.err" "default key"; then
  pk=$(pg_psql -At -c "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a
    ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'out_dkey'::regclass
    AND i.indisprimary" | tail -1)
  "$BIN" query --format csv "SELECT tumble(ts, INTERVAL '10 seconds'), product_id % 3, sum(quantity)
    FROM read_csv('$D/f') GROUP BY 1, 2 ORDER BY 1, 2" > "$T/dkey_exp.csv"
  psql_csv "SELECT w, kind, total FROM out_dkey ORDER BY 1, 2" | sed 1d > "$T/dkey_got.csv"
  sed -i 1d "$T/dkey_exp.csv"
  [ "$st" = 0 ] && [ "$pk" = "kind,w" ] && diff -q "$T/dkey_exp.csv" "$T/dkey_got.csv" > /dev/null \
    && ok "update mode, no key option: upserts on the group keys (PRIMARY KEY (w, kind)), $(wc -l < "$T/dkey_got.csv") rows = batch answer" \
    || { bad "default key: exit $st, primary key '$pk'"; head -5 "$T/dkey.err"; diff "$T/dkey_exp.csv" "$T/dkey_got.csv" | head; }
fi
# a group key that is not in the output: no default key, a clear error at start
sed -e 's/product_id % 3 AS k/max(product_id) AS k/' -e 's/GROUP BY 2, 3/GROUP BY 2, product_id % 3/' -e 's/out_dkey/out_nodkey/g' "$T/dkey.sql" > "$T/nodkey.sql"
st=0
timeout 60 "$BIN" run "$T/nodkey.sql" --trigger available-now --quiet 2> "$T/nodkey.err" > /dev/null || st=$?
expect_err "update mode, a group key not in the output" "$T/nodkey.err" "$st" \
  'postgres sink "out_nodkey": upsert needs a key' 'group key .* is not a column of its output' "key = 'col1, col2'"
expect_err "unknown option" "$T/badopt.err" "$st" "unknown option 'colour'"

# the connection killed inside the batch's transaction (a trigger terminates its own
# backend at the first row): the batch is sent again on a new connection, once
pg_psql > /dev/null <<'SQL'
CREATE SEQUENCE kill_once;
CREATE TABLE out_kill (sale_id int, product_id int, quantity int, ts timestamp);
CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('kill_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER kill_once BEFORE INSERT ON out_kill FOR EACH ROW EXECUTE FUNCTION kill_once();
SQL
run_fault kill out_kill ", retry_backoff = '50 ms'"
n=$(psql_csv "SELECT count(*), count(DISTINCT sale_id) FROM out_kill" | tail -1)
if sane "$T/kill.err" "killed connection"; then
  [ "$st" = 0 ] && [ "$n" = "50,50" ] && grep -q 'terminating connection due to administrator command' "$T/kill.err" \
    && ok "connection killed mid-batch: retried, 50 rows once ($(grep -c retrying "$T/kill.err") retry)" \
    || { bad "connection killed mid-batch: exit $st, rows $n"; head -5 "$T/kill.err"; }
fi

# the same two with a streamed batch (20,000 rows)
FDIR=$D/big
pg_psql -c "CREATE TABLE out_chk2 (sale_id int, product_id int, quantity int CHECK (quantity < 9), ts timestamp)" > /dev/null
run_fault check2 out_chk2 ""
expect_err "check constraint, streamed batch" "$T/check2.err" "$st" 'violates check constraint "out_chk2_quantity_check"' 'not committed'
nothing_committed "check constraint, streamed batch" out_chk2
pg_psql -c "SELECT setval('kill_once', 1, false)" -c "ALTER TABLE out_kill RENAME TO out_kill2" -c "TRUNCATE out_kill2" > /dev/null
run_fault kill2 out_kill2 ", retry_backoff = '50 ms'"
n=$(psql_csv "SELECT count(*), count(DISTINCT sale_id) FROM out_kill2" | tail -1)
if sane "$T/kill2.err" "killed connection, streamed"; then
  [ "$st" = 0 ] && [ "$n" = "20000,20000" ] && grep -q 'terminating connection due to administrator command' "$T/kill2.err" \
    && ok "connection killed inside a streamed batch: sent again, 20000 rows once" \
    || { bad "connection killed inside a streamed batch: exit $st, rows $n"; head -5 "$T/kill2.err"; }
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
