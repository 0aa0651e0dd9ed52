// check_pq_meta.mjs FILE CODEC MIN_ROW_GROUPS ENCODING - DuckDB's parquet_metadata() of a
// file written by COPY: every column chunk compressed with CODEC (DuckDB's name: SNAPPY,
// ZSTD, GZIP, LZ4_RAW, UNCOMPRESSED, BROTLI), at least MIN_ROW_GROUPS row groups, and
// ENCODING: "dict" (every chunk of column s dictionary-encoded), "plain" (no chunk
// dictionary-encoded) or "any". (The fallback from dictionary to PLAIN pages inside a
// chunk is not visible here: tests/unit/test_parquet_write.c checks it.) Exit 1 on a
// mismatch.
import { connect, sqlStr } from './duck.mjs';

const [file, codec, minRg, enc] = process.argv.slice(2);
const db = await connect();
const rows = await db.rows(`SELECT row_group_id::INTEGER, path_in_schema, compression, encodings
  FROM parquet_metadata(${sqlStr(file)})`);
let failures = 0;
const fail = (m) => { console.error(`FAIL: ${file}: ${m}`); failures++; };
const groups = new Set(rows.map((r) => r[0]));
if (groups.size < Number(minRg)) fail(`${groups.size} row groups, expected at least ${minRg}`);
for (const [rg, col, comp] of rows) if (comp !== codec) fail(`row group ${rg} column ${col}: ${comp}, expected ${codec}`);
const s = rows.filter((r) => r[1] === 's').map((r) => String(r[3]));
const dict = (e) => e.includes('DICTIONARY');
if (enc === 'dict' && (s.length === 0 || !s.every(dict))) fail(`column s not dictionary-encoded: ${s}`);
if (enc === 'plain' && rows.some((r) => dict(String(r[3])))) fail('dictionary encoding found with DICTIONARY false');
console.log(`ok ${file}: ${groups.size} row groups, ${codec}, column s ${[...new Set(s)].join(' | ')}`);
process.exit(failures ? 1 : 0);
