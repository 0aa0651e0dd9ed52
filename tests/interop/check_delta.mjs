// check_delta.mjs DIR - DuckDB cross-check of the Delta tables test_delta wrote into DIR:
//  - DIR/delta_part (partitioned, special characters, NULL partitions): the rows DuckDB
//    reads from the live files (found by an independent replay of the JSON log, partition
//    values taken from the log) equal DIR/delta_part.csv, the rows the test wrote;
//  - DIR/delta_ckpt: DuckDB reads our checkpoint 20 (nested Parquet): its protocol,
//    metaData, txn and add rows agree with the JSON replay of versions 0..20.
// Exit 1 on any mismatch.
import { existsSync } from 'node:fs';
import { connect, sqlStr } from './duck.mjs';
import { replay, snapshotSql } from './delta_js.mjs';

const dir = process.argv[2];
const db = await connect();
let failures = 0, checked = 0;
const fail = (m) => { console.error('FAIL: ' + m); failures++; };

async function latestVersion(table) {
  const rows = await db.rows(`SELECT max(CAST(regexp_extract(file, '(\\d{20})\\.json$', 1) AS BIGINT))::VARCHAR
      FROM glob(${sqlStr(table + '/_delta_log/*.json')})`);
  return Number(rows[0][0]);
}

// 1. rows of a partitioned table
{
  const table = `${dir}/delta_part`, csv = `${dir}/delta_part.csv`;
  if (existsSync(table) && existsSync(csv)) {
    const snap = replay(table, await latestVersion(table));
    const sql = await snapshotSql(db, table, snap);
    await db.run(`CREATE OR REPLACE TABLE p AS ${sql}`);
    const spec = '{' + snap.schema.map((f) => `${sqlStr(f.name)}: ${sqlStr(f.type)}`).join(', ') + '}';
    await db.run(`CREATE OR REPLACE TABLE c AS SELECT * FROM read_csv(${sqlStr(csv)}, header = true,
        nullstr = '\\N', quote = '"', escape = '"', allow_quoted_nulls = false, columns = ${spec})`);
    const [[np]] = await db.rows('SELECT count(*)::VARCHAR FROM p');
    const [[nc]] = await db.rows('SELECT count(*)::VARCHAR FROM c');
    const [[extra]] = await db.rows('SELECT count(*)::VARCHAR FROM (SELECT * FROM p EXCEPT ALL SELECT * FROM c)');
    const [[missing]] = await db.rows('SELECT count(*)::VARCHAR FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM p)');
    if (np !== nc || extra !== '0' || missing !== '0')
      fail(`delta_part: DuckDB reads ${np} rows (expected ${nc}); ${extra} differ, ${missing} missing`);
    else console.log(`ok delta_part: ${np} rows from ${snap.live.size} files`);
    // stats of each add are consistent with the file
    for (const [path, add] of snap.live) {
      const st = JSON.parse(add.stats);
      const [[n]] = await db.rows(`SELECT count(*)::VARCHAR FROM read_parquet(${sqlStr(table + '/' + path)})`);
      if (String(st.numRecords) !== n) fail(`delta_part: ${path}: stats.numRecords ${st.numRecords}, file has ${n}`);
      if (st.minValues.id === undefined || st.maxValues.id === undefined) { fail(`delta_part: ${path}: no id stats`); continue; }
      const [[mn, mx]] = await db.rows(`SELECT min(id)::VARCHAR, max(id)::VARCHAR FROM read_parquet(${sqlStr(table + '/' + path)})`);
      if (String(st.minValues.id) !== mn || String(st.maxValues.id) !== mx) fail(`delta_part: ${path}: id stats ${st.minValues.id}..${st.maxValues.id}, file ${mn}..${mx}`);
    }
    checked++;
  }
}

// 2. our checkpoint, read by DuckDB
{
  const table = `${dir}/delta_ckpt`;
  const ckpt = `${table}/_delta_log/00000000000000000020.checkpoint.parquet`;
  if (existsSync(ckpt)) {
    const snap = replay(table, 20);
    const q = (s) => db.rows(s.replaceAll('CKPT', `read_parquet(${sqlStr(ckpt)})`));
    const adds = (await q('SELECT add.path FROM CKPT WHERE add IS NOT NULL')).map((r) => decodeURIComponent(r[0])).sort();
    const want = [...snap.live.keys()].sort();
    if (JSON.stringify(adds) !== JSON.stringify(want)) fail(`delta_ckpt: checkpoint adds ${adds.length}, log has ${want.length} live files`);
    const pv = await q(`SELECT add.path, add.partitionValues['p'] FROM CKPT WHERE add IS NOT NULL`);
    for (const [path, p] of pv) {
      const a = snap.live.get(decodeURIComponent(path));
      if (a && (a.partitionValues.p ?? null) !== p) fail(`delta_ckpt: ${path}: partition p ${p}, log ${a.partitionValues.p}`);
    }
    const [[r, w]] = await q('SELECT protocol.minReaderVersion, protocol.minWriterVersion FROM CKPT WHERE protocol IS NOT NULL');
    if (r !== snap.protocol.minReaderVersion || w !== snap.protocol.minWriterVersion) fail(`delta_ckpt: protocol ${r}/${w}`);
    const [[schema, pcols, id]] = await q(`SELECT metaData.schemaString, metaData.partitionColumns::VARCHAR, metaData.id FROM CKPT WHERE metaData IS NOT NULL`);
    if (schema !== snap.meta.schemaString || id !== snap.meta.id || pcols !== '[p]') fail('delta_ckpt: metaData differs');
    const txn = await q(`SELECT txn.appId, txn.version::VARCHAR FROM CKPT WHERE txn IS NOT NULL`);
    if (txn.length !== snap.txns.size || txn.some(([a, v]) => String(snap.txns.get(a)) !== v)) fail(`delta_ckpt: txn ${JSON.stringify(txn)}`);
    const [[n]] = await q('SELECT count(*)::VARCHAR FROM CKPT');
    console.log(`ok delta_ckpt: checkpoint 20 has ${n} actions, ${adds.length} live files`);
    checked++;
  }
}

if (checked < 2) fail(`expected 2 tables in ${dir}, checked ${checked}`);
console.log(`${checked} tables checked, ${failures} failures`);
process.exit(failures ? 1 : 0);
