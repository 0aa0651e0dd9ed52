// delta_expect.mjs GOLDEN_DIR OUT_DIR - expected rows of the Delta golden tables, derived
// independently of Tributary: this script replays the JSON log itself (add/remove/
// metaData, paths URI-decoded) and has DuckDB read the live Parquet files, adding the
// partition columns from the log's partitionValues. Writes OUT_DIR/<table>@<version>.csv:
// a header of column names then the rows sorted, NULL as \N, strings quoted, values as
// text Tributary can parse (timestamps 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC).
// Run once; the CSVs are committed under tests/data/delta_expect/.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect, sqlStr } from './duck.mjs';

const [golden, outDir] = process.argv.slice(2);
const cases = [
  ['snapshot-data0', 0],
  ['snapshot-data1', 1],
  ['snapshot-data2-deleted', 0], ['snapshot-data2-deleted', 1], ['snapshot-data2-deleted', 2],
  ['snapshot-data2-deleted', 3], ['snapshot-data2-deleted', 4],
  ['basic-with-inserts-deletes-checkpoint', 4], ['basic-with-inserts-deletes-checkpoint', 10],
  ['basic-with-inserts-deletes-checkpoint', 13],
  ['multi-part-checkpoint', 1],
  ['data-reader-partition-values', 0],
  ['time-travel-partition-changes-a', 0],
];

const duckType = (t) => {
  const m = { integer: 'INTEGER', long: 'BIGINT', short: 'SMALLINT', byte: 'TINYINT', float: 'FLOAT',
    double: 'DOUBLE', boolean: 'BOOLEAN', string: 'VARCHAR', binary: 'BLOB', date: 'DATE',
    timestamp: 'TIMESTAMP', timestamp_ntz: 'TIMESTAMP' }[t];
  if (m) return m;
  const d = /^decimal\((\d+),(\d+)\)$/.exec(t);
  return d ? `DECIMAL(${d[1]},${d[2]})` : null; // nested types: not supported by Tributary
};

function replay(table, version) {
  const log = `${table}/_delta_log`;
  const live = new Map();
  let meta = null;
  for (let v = 0; v <= version; v++) {
    const name = `${log}/${String(v).padStart(20, '0')}.json`;
    for (const line of readFileSync(name, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const a = JSON.parse(line);
      if (a.add) live.set(decodeURIComponent(a.add.path), a.add);
      if (a.remove) live.delete(decodeURIComponent(a.remove.path));
      if (a.metaData) meta = a.metaData;
    }
  }
  return { live, meta };
}

function toText(type) {
  return (c) => {
    if (type === 'TIMESTAMP') return `strftime(${c}, '%Y-%m-%d %H:%M:%S.%f')`;
    if (type === 'BOOLEAN') return `CASE WHEN ${c} IS NULL THEN NULL WHEN ${c} THEN 'true' ELSE 'false' END`;
    return `CAST(${c} AS VARCHAR)`;
  };
}

const db = await connect();
mkdirSync(outDir, { recursive: true });
for (const [name, version] of cases) {
  const table = `${golden}/${name}`;
  const { live, meta } = replay(table, version);
  const schema = JSON.parse(meta.schemaString).fields
    .filter((f) => typeof f.type === 'string' && duckType(f.type))
    .map((f) => ({ name: f.name, type: duckType(f.type) }));
  const parts = new Set(meta.partitionColumns);
  const selects = [];
  for (const [path, add] of live) {
    const file = `${table}/${path}`;
    const fileCols = new Set((await db.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlStr(file)})`)).map((r) => r[0]));
    const exprs = schema.map((f) => {
      let e;
      if (parts.has(f.name)) {
        const v = add.partitionValues[f.name];
        e = v === null || v === undefined || v === '__HIVE_DEFAULT_PARTITION__' ? `NULL::${f.type}` : `CAST(${sqlStr(v)} AS ${f.type})`;
      } else if (fileCols.has(f.name)) {
        e = `CAST("${f.name}" AS ${f.type})`;
      } else {
        e = `NULL::${f.type}`;
      }
      return `${toText(f.type)(e)} AS "${f.name}"`;
    });
    selects.push(`SELECT ${exprs.join(', ')} FROM read_parquet(${sqlStr(file)})`);
  }
  let lines = [];
  if (selects.length > 0) {
    const rows = await db.rows(selects.join(' UNION ALL '));
    lines = rows.map((r) => r.map((v) => (v === null ? '\\N' : '"' + String(v).replaceAll('"', '""') + '"')).join(','));
    lines.sort();
  }
  const out = `${outDir}/${name}@${version}.csv`;
  writeFileSync(out, [schema.map((f) => f.name).join(','), ...lines].join('\n') + '\n');
  console.log(`${out}: ${lines.length} rows, ${live.size} files`);
}
