// check_big.mjs FILE N OURS_CSV - a large Parquet file written by Tributary's COPY (rows
// i = 0..N-1 of the formulas in tests/run_write.sh / tests/big_parquet.sh) checked
// without dumping rows: the same aggregate query (AGG below, over every column, with
// position-weighted sums so a value in the wrong row shows) is computed three ways:
//   1. by DuckDB over the formulas themselves (range(N)): the independent expectation;
//   2. by DuckDB reading FILE;
//   3. by Tributary reading FILE (OURS_CSV: its output, a header and one line).
// All three must agree. Also prints the file's row groups and the bytes of values.
// Exit 1 on any difference.
import { readFileSync } from 'node:fs';
import { connect, sqlStr } from './duck.mjs';

const [file, nArg, oursCsv] = process.argv.slice(2);
const N = BigInt(nArg);
const db = await connect();

// Keep in step with gen_sql() in tests/run_write.sh (Tributary's spelling of the same).
const gen = `SELECT i,
    CAST(i % 2000003 - 1000000 AS INTEGER) AS i32,
    CAST(i % 65536 - 32768 AS SMALLINT) AS i16,
    CAST(i AS DOUBLE) / 4 AS f64,
    CAST(CASE WHEN i % 5 = 0 THEN NULL ELSE CAST(i % 1000 AS REAL) / 8 END AS REAL) AS f32,
    CAST(CASE WHEN i % 7 = 3 THEN NULL ELSE CAST(i % 10000000 AS VARCHAR) || '.' || lpad(CAST(i % 100 AS VARCHAR), 2, '0') END AS DECIMAL(18,2)) AS dec,
    CASE WHEN i % 3 = 0 THEN NULL ELSE 'row-' || CAST(i AS VARCHAR) || repeat('x', CAST(i % 17 AS INTEGER)) END AS s,
    CASE WHEN i % 11 = 0 THEN NULL ELSE i % 2 = 1 END AS b,
    DATE '2000-01-01' + CAST(i % 10000 AS INTEGER) AS dt,
    CASE WHEN i % 13 = 0 THEN NULL ELSE TIMESTAMP '2020-01-01 00:00:00' + to_seconds(i) END AS ts
  FROM range(${N}) r(i)`;

const AGG = `SELECT count(*) AS n, sum(i) AS s_i, min(i) AS mn_i, max(i) AS mx_i,
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
  FROM SRC`;

function norm(v) {
  if (v === null || v === undefined || v === '') return null;
  const s = String(v);
  if (/^-?\d+(\.0*)?$/.test(s)) return BigInt(s.split('.')[0]).toString();
  if (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s).toString();
  return s;
}

async function duckAgg(src) {
  const reader = await db.rows(`SELECT COLUMNS(*)::VARCHAR FROM (${AGG.replace('SRC', src)})`);
  return reader[0].map(norm);
}

const names = [...AGG.matchAll(/ AS (\w+)[,\n ]/g)].map((m) => m[1]).filter((n) => n !== 'BIGINT' && n !== 'REAL');
const expect = await duckAgg(`(${gen})`);
const duck = await duckAgg(`read_parquet(${sqlStr(file)})`);
const lines = readFileSync(oursCsv, 'utf8').trim().split('\n');
const ours = lines[1].split(',').map(norm);
let failures = 0;
if (ours.length !== expect.length) {
  console.error(`FAIL: Tributary gave ${ours.length} aggregates, expected ${expect.length}`);
  failures++;
}
for (let k = 0; k < expect.length; k++) {
  const nm = names[k] ?? `#${k}`;
  if (duck[k] !== expect[k]) { console.error(`FAIL: ${nm}: DuckDB reads ${duck[k]}, the formulas give ${expect[k]}`); failures++; }
  if (ours[k] !== expect[k]) { console.error(`FAIL: ${nm}: Tributary reads ${ours[k]}, the formulas give ${expect[k]}`); failures++; }
}
const meta = await db.rows(`SELECT count(DISTINCT row_group_id)::VARCHAR, min(row_group_num_rows)::VARCHAR,
    max(row_group_num_rows)::VARCHAR, string_agg(DISTINCT compression, ',') FROM parquet_metadata(${sqlStr(file)})`);
const [[valueBytes]] = await db.rows(`SELECT (count(*) * (8 + 4 + 2 + 8 + 1) + count(f32) * 4 + count(dec) * 8
    + count(s) * 4 + coalesce(sum(length(s)), 0) + count(dt) * 4 + count(ts) * 8)::VARCHAR FROM read_parquet(${sqlStr(file)})`);
console.log(`${file}: ${N} rows, ${meta[0][0]} row groups of ${meta[0][1]}..${meta[0][2]} rows, ` +
  `codec ${meta[0][3]}, ${(Number(valueBytes) / 1e9).toFixed(3)} GB of values ` +
  `(fixed widths + string bytes with 4-byte lengths)`);
console.log(`${expect.length} aggregates compared (formulas / DuckDB / Tributary), ${failures} failures`);
process.exit(failures ? 1 : 0);
