// bench (d), DuckDB side: the streaming job done micro-batch style, one query per file.
// The products are loaded into a table once; a table `sales_by_category` with a primary
// key (window_start, category) plays the materialized view; each file is one
// INSERT ... SELECT ... FROM read_csv(file, schema given, no sniffing) JOIN products ... GROUP BY ...
// ON CONFLICT DO UPDATE (an incremental upsert of the file's partial sums), in its own
// transaction. Files are processed back to back in name order, skipping the first (the
// warm-up file of feed.mjs). Latency of a file = the duration of its query (no discovery
// or rename involved: a lower bound on what a watcher around DuckDB would see).
// Peak RSS: process.resourceUsage().maxRSS, node itself included.
//
// usage: node duck_stream.mjs THREADS SRC_DIR N_FILES PRODUCTS.parquet [DB_FILE]
//   DB_FILE: an on-disk database (each upsert commits to its WAL, fsynced) instead of
//   :memory:. Prints one JSON object.
import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';

const [threads, src, nArg, products, dbFile] = process.argv.slice(2);
const names = fs.readdirSync(src).filter((n) => n.endsWith('.csv')).sort();
const files = names.slice(1, Math.min(names.length, Number(nArg) + 1));
if (dbFile) for (const f of [dbFile, dbFile + '.wal']) fs.rmSync(f, { force: true });
const db = await DuckDBInstance.create(dbFile || ':memory:', { threads: String(threads) });
const con = await db.connect();
await con.run(`CREATE TABLE products AS SELECT * FROM read_parquet('${products}')`);
await con.run(`CREATE TABLE sales_by_category (window_start TIMESTAMP, category VARCHAR,
  total_quantity BIGINT, PRIMARY KEY (window_start, category))`);
const cols = `columns={'sale_id':'INTEGER','product_id':'INTEGER','quantity':'INTEGER','ts':'TIMESTAMP'}`;
const upsert = (f) => `INSERT INTO sales_by_category
  SELECT time_bucket(INTERVAL '10 seconds', ts) AS window_start, category, sum(quantity)
  FROM read_csv('${f}', header=true, auto_detect=false, delim=',', quote='"', ${cols}) JOIN products USING (product_id)
  GROUP BY 1, 2
  ON CONFLICT (window_start, category) DO UPDATE
  SET total_quantity = total_quantity + excluded.total_quantity`;
await con.run(upsert(path.join(src, names[0]))); // warm-up, as feed.mjs
const lat = [];
const t0 = performance.now();
for (const f of files) {
  const t = performance.now();
  await con.run(upsert(path.join(src, f)));
  lat.push(performance.now() - t);
}
const elapsedMs = performance.now() - t0;
const r = await con.runAndReadAll('SELECT count(*), sum(total_quantity) FROM sales_by_category');
const [groups, total] = r.getRows()[0];
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.max(0, Math.min(s.length - 1, Math.ceil(p * s.length) - 1))]; };
console.log(JSON.stringify({
  files: files.length, elapsed_ms: +elapsedMs.toFixed(1),
  files_per_s: +(files.length / (elapsedMs / 1000)).toFixed(1),
  p50_ms: +q(lat, 0.5).toFixed(3), p99_ms: +q(lat, 0.99).toFixed(3), max_ms: +q(lat, 1).toFixed(3),
  lat: lat.map((x) => +x.toFixed(3)), rss_kb: process.resourceUsage().maxRSS, groups: Number(groups), total_quantity: Number(total),
}));
if (dbFile) for (const f of [dbFile, dbFile + '.wal']) fs.rmSync(f, { force: true });
