// delta_expect.mjs GOLDEN_DIR OUT_DIR - expected rows of the Delta golden tables, derived
// independently of Tributary: this script replays the JSON log itself (add/remove/
// metaData, paths URI-decoded) and has DuckDB read the live Parquet files, adding the
// partition columns from the log's partitionValues. Writes OUT_DIR/<table>@<version>.csv:
// a header of column names then the rows sorted, NULL as \N, strings quoted, values as
// text Tributary can parse (timestamps 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC).
// Run once; the CSVs are committed under tests/data/delta_expect/.
import { writeFileSync, mkdirSync } from 'node:fs';
import { connect } from './duck.mjs';
import { replay, snapshotSql } from './delta_js.mjs';

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
  const snap = replay(table, version);
  const sql = await snapshotSql(db, table, snap, (e, t) => toText(t)(e));
  let lines = [];
  if (sql) {
    const rows = await db.rows(sql);
    lines = rows.map((r) => r.map((v) => (v === null ? '\\N' : '"' + String(v).replaceAll('"', '""') + '"')).join(','));
    lines.sort();
  }
  const schema = snap.schema, live = snap.live;
  const out = `${outDir}/${name}@${version}.csv`;
  writeFileSync(out, [schema.map((f) => f.name).join(','), ...lines].join('\n') + '\n');
  console.log(`${out}: ${lines.length} rows, ${live.size} files`);
}
