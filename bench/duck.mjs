// bench (a)-(c), DuckDB side (the peer measured in the same run): runs one SQL text with
// a given thread count REPEAT times in one in-memory database and prints one line:
//   ms1,ms2,... ROWS RSS_KB CHECK
// ms: wall time of each run (query and reading its whole result; process start-up and
// database creation excluded); ROWS: result rows; CHECK: a checksum to compare with
// Tributary's answer (a one-row result: its values joined by '|'; otherwise the sum of
// the last column); RSS_KB: peak RSS of this process (node itself included).
// usage: node duck.mjs THREADS REPEAT SQL
import { DuckDBInstance } from '@duckdb/node-api';

const [threads, repeat, sql] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const con = await db.connect();
const ms = [];
let rows = [];
for (let i = 0; i < repeat; i++) {
  const t0 = process.hrtime.bigint();
  const r = await con.runAndReadAll(sql);
  rows = r.getRows();
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
let check;
if (rows.length === 1) {
  check = rows[0].map((v) => String(v)).join('|');
} else {
  check = String(rows.reduce((a, r) => a + BigInt(r[r.length - 1]), 0n));
}
console.log(`${ms.map((x) => x.toFixed(1)).join(',')} ${rows.length} ${process.resourceUsage().maxRSS} ${check}`);
