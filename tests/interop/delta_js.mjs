// delta_js.mjs - an independent, minimal Delta log replay for cross-checks (JSON commits
// only: add/remove/metaData/txn, paths URI-decoded), and the SQL that has DuckDB read a
// snapshot's rows from the live Parquet files plus the log's partition values.
import { readFileSync } from 'node:fs';
import { sqlStr } from './duck.mjs';

export function duckType(t) {
  const m = { integer: 'INTEGER', long: 'BIGINT', short: 'SMALLINT', byte: 'TINYINT', float: 'FLOAT',
    double: 'DOUBLE', boolean: 'BOOLEAN', string: 'VARCHAR', binary: 'BLOB', date: 'DATE',
    timestamp: 'TIMESTAMP', timestamp_ntz: 'TIMESTAMP' }[t];
  if (m) return m;
  const d = /^decimal\((\d+),(\d+)\)$/.exec(t);
  return d ? `DECIMAL(${d[1]},${d[2]})` : null; // nested types: not supported by Tributary
}

export function replay(table, version) {
  const live = new Map();
  const txns = new Map();
  let meta = null, protocol = null;
  for (let v = 0; v <= version; v++) {
    const name = `${table}/_delta_log/${String(v).padStart(20, '0')}.json`;
    for (const line of readFileSync(name, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const a = JSON.parse(line);
      if (a.add) live.set(decodeURIComponent(a.add.path), a.add);
      if (a.remove) live.delete(decodeURIComponent(a.remove.path));
      if (a.metaData) meta = a.metaData;
      if (a.protocol) protocol = a.protocol;
      if (a.txn) txns.set(a.txn.appId, a.txn.version);
    }
  }
  const schema = JSON.parse(meta.schemaString).fields
    .filter((f) => typeof f.type === 'string' && duckType(f.type))
    .map((f) => ({ name: f.name, type: duckType(f.type) }));
  return { live, meta, protocol, txns, schema };
}

// SQL reading the snapshot's rows; wrap(expr, type) may turn each column into text.
export async function snapshotSql(db, table, snap, wrap = (e) => e) {
  const parts = new Set(snap.meta.partitionColumns);
  const selects = [];
  for (const [path, add] of snap.live) {
    const file = `${table}/${path}`;
    const fileCols = new Set((await db.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlStr(file)})`)).map((r) => r[0]));
    const exprs = snap.schema.map((f) => {
      let e;
      if (parts.has(f.name)) {
        const v = add.partitionValues[f.name];
        e = v === null || v === undefined || v === '__HIVE_DEFAULT_PARTITION__' ? `NULL::${f.type}` : `CAST(${sqlStr(v)} AS ${f.type})`;
      } else if (fileCols.has(f.name)) {
        e = `CAST("${f.name}" AS ${f.type})`;
      } else {
        e = `NULL::${f.type}`;
      }
      return `${wrap(e, f.type)} AS "${f.name}"`;
    });
    selects.push(`SELECT ${exprs.join(', ')} FROM read_parquet(${sqlStr(file)})`);
  }
  return selects.length ? selects.join(' UNION ALL ') : null;
}
