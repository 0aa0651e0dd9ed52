# lib_write_gen.sh - sourced by tests/run_write.sh and tests/big_parquet.sh (not a test).
#
# gen_sql N: Tributary SQL yielding rows i = 0..N-1 of the formulas that
# tests/interop/check_big.mjs also gives DuckDB (range(N)): keep the two in step.
# Rows come from a cross join of two VALUES lists (1000 x ceil(N/1000)).
gen_sql() {
  local n=$1 b=$(( ($1 + 999) / 1000 ))
  local va vb
  va=$(seq -s, 0 999 | sed 's/\([0-9]\+\)/(\1)/g')
  vb=$(seq -s, 0 $((b - 1)) | sed 's/\([0-9]\+\)/(\1)/g')
  cat <<SQL
SELECT i,
  CAST(i % 2000003 - 1000000 AS int) AS i32,
  CAST(i % 65536 - 32768 AS smallint) AS i16,
  CAST(i AS double precision) / 4 AS f64,
  CAST(CASE WHEN i % 5 = 0 THEN NULL ELSE CAST(i % 1000 AS real) / 8 END AS real) AS f32,
  CAST(CASE WHEN i % 7 = 3 THEN NULL ELSE CAST(i % 10000000 AS text) || '.' ||
       lpad(CAST(i % 100 AS text), 2, '0') END AS numeric(18,2)) AS dec,
  CASE WHEN i % 3 = 0 THEN NULL ELSE 'row-' || CAST(i AS text) ||
       repeat('x', CAST(i % 17 AS int)) END AS s,
  CASE WHEN i % 11 = 0 THEN NULL ELSE i % 2 = 1 END AS b,
  DATE '2000-01-01' + CAST(i % 10000 AS int) AS dt,
  CASE WHEN i % 13 = 0 THEN NULL ELSE TIMESTAMP '2020-01-01 00:00:00' + i * INTERVAL '1 second' END AS ts
FROM (SELECT CAST(b.y AS bigint) * 1000 + a.x AS i
      FROM (VALUES $va) a(x) CROSS JOIN (VALUES $vb) b(y)) g
WHERE i < $n
SQL
}

# The aggregate query of check_big.mjs (AGG), over relation $1.
agg_sql() {
  cat <<SQL
SELECT count(*) AS n, sum(i) AS s_i, min(i) AS mn_i, max(i) AS mx_i,
    count(i32) AS c_i32, sum(i32) AS s_i32, min(i32) AS mn_i32, max(i32) AS mx_i32,
    sum(CAST(i32 AS BIGINT) * (i % 1009)) AS w_i32,
    count(i16) AS c_i16, sum(i16) AS s_i16, sum(CAST(i16 AS BIGINT) * (i % 1013)) AS w_i16,
    count(f64) AS c_f64, sum(f64) AS s_f64, min(f64) AS mn_f64, max(f64) AS mx_f64,
    sum(f64 * (i % 7)) AS w_f64,
    count(f32) AS c_f32, sum(f32) AS s_f32, min(f32) AS mn_f32, max(f32) AS mx_f32,
    count(dec) AS c_dec, sum(dec) AS s_dec, min(dec) AS mn_dec, max(dec) AS mx_dec,
    count(s) AS c_s, sum(length(s)) AS l_s, min(s) AS mn_s, max(s) AS mx_s,
    sum(length(s) * (i % 1009)) AS w_s, sum(ascii(right(s, 1))) AS a_s,
    count(b) AS c_b, sum(CASE WHEN b THEN 1 ELSE 0 END) AS t_b,
    sum(CASE WHEN b THEN i % 1009 ELSE 0 END) AS w_b,
    count(dt) AS c_dt, min(dt) AS mn_dt, max(dt) AS mx_dt, sum(extract(doy FROM dt)) AS d_dt,
    count(ts) AS c_ts, min(ts) AS mn_ts, max(ts) AS mx_ts,
    sum(extract(second FROM ts) + 60 * extract(minute FROM ts)) AS s_ts
  FROM $1
SQL
}
