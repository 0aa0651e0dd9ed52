// DuckDB side of the benchmark (the peer measured in the same run): runs one SQL text
// with a given thread count N times and prints the wall times in ms, one per line.
// usage: node duck.mjs THREADS REPEAT SQL
import { DuckDBInstance } from '@duckdb/node-api';
const [threads, repeat, sql] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const con = await db.connect();
for (let i = 0; i < repeat; i++) {
  const t0 = process.hrtime.bigint();
  const r = await con.runAndReadAll(sql);
  const rows = r.getRows().length;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`${ms.toFixed(1)} ${rows}`);
}
