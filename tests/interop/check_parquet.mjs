// check_parquet.mjs DIR - DuckDB reads every DIR/<name>.parquet written by
// test_parquet_write and compares it with DIR/<name>.csv (the values the test wrote;
// NULL = \N): same row count, no row missing either way (EXCEPT ALL), expected types.
// Also checks DIR/nested.parquet (the low-level nested writer). Exit 1 on any mismatch.
import { readdirSync, existsSync } from 'node:fs';
import { connect, sqlStr } from './duck.mjs';

const dir = process.argv[2];
const db = await connect();
let failures = 0, checked = 0;

function fail(msg) {
  console.error('FAIL: ' + msg);
  failures++;
}

const expectTypes = {
  b: 'BOOLEAN', i16: 'SMALLINT', i32: 'INTEGER', i64: 'BIGINT', f32: 'FLOAT', f64: 'DOUBLE',
  d9: 'DECIMAL(9,2)', d18: 'DECIMAL(18,4)', d38: 'DECIMAL(38,6)', s: 'VARCHAR', su: 'VARCHAR',
  dt: 'DATE', ts: 'TIMESTAMP', iv: 'INTERVAL', n: 'INTEGER', req: 'BIGINT',
};

for (const f of readdirSync(dir).filter((n) => n.endsWith('.parquet')).sort()) {
  const name = f.slice(0, -'.parquet'.length);
  const csv = `${dir}/${name}.csv`;
  if (!existsSync(csv)) continue;
  const pq = `${dir}/${f}`;
  await db.run(`CREATE OR REPLACE TABLE p AS SELECT * FROM read_parquet(${sqlStr(pq)})`);
  const desc = await db.rows('DESCRIBE p');
  const cols = desc.map((r) => [r[0], r[1]]);
  for (const [c, t] of cols) {
    if (expectTypes[c] && expectTypes[c] !== t) fail(`${name}: column ${c} is ${t}, expected ${expectTypes[c]}`);
  }
  const colSpec = '{' + cols.map(([c, t]) => `${sqlStr(c)}: ${sqlStr(t)}`).join(', ') + '}';
  await db.run(`CREATE OR REPLACE TABLE c AS SELECT * FROM read_csv(${sqlStr(csv)}, header = true,
      nullstr = '\\N', quote = '"', escape = '"', allow_quoted_nulls = false, columns = ${colSpec})`);
  const [[np]] = await db.rows('SELECT count(*)::VARCHAR FROM p');
  const [[nc]] = await db.rows('SELECT count(*)::VARCHAR FROM c');
  if (np !== nc) fail(`${name}: DuckDB reads ${np} rows, expected ${nc}`);
  const [[extra]] = await db.rows('SELECT count(*)::VARCHAR FROM (SELECT * FROM p EXCEPT ALL SELECT * FROM c)');
  const [[missing]] = await db.rows('SELECT count(*)::VARCHAR FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM p)');
  if (extra !== '0' || missing !== '0') {
    fail(`${name}: ${extra} rows differ from the expected values, ${missing} expected rows missing`);
    const sample = await db.rows('SELECT * FROM (SELECT * FROM p EXCEPT ALL SELECT * FROM c) LIMIT 3');
    console.error('  e.g. DuckDB row:', JSON.stringify(sample, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  }
  checked++;
  console.log(`ok ${name}: ${np} rows`);
}

const nested = `${dir}/nested.parquet`;
if (existsSync(nested)) {
  const rows = await db.rows(`SELECT id::VARCHAR, (add IS NULL)::VARCHAR, add.path,
      cardinality(add.pv)::VARCHAR, add.pv['a'], (add.pv['b'] IS NULL)::VARCHAR,
      add.tags::VARCHAR FROM read_parquet(${sqlStr(nested)}) ORDER BY id`);
  const want = [
    ['0', 'false', 'f.parquet', '2', '1', 'true', '[x]'],
    ['1', 'true', null, null, null, 'true', null],
    ['2', 'false', 'f.parquet', '0', null, 'true', null],
  ];
  if (JSON.stringify(rows) !== JSON.stringify(want)) fail(`nested: got ${JSON.stringify(rows)}`);
  else console.log('ok nested');
  checked++;
}

if (checked === 0) fail(`no files to check in ${dir}`);
console.log(`${checked} files checked, ${failures} failures`);
process.exit(failures ? 1 : 0);
