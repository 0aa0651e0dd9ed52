// bench/run.sh's driver: Tributary against DuckDB on the same data in the same run,
// REPEAT runs of each (interleaved, so a load change on this shared machine hits both),
// medians, ratios, and a check that both engines gave the same answer. Prints markdown.
// Environment (run.sh sets it): TB_BIN, ROWS, FILES, REPEAT, SMALL_FILES, RSS_FILES, D.
//
// (a) parse all four CSV columns, (b) the reference job's query over CSV, (c) over
// Parquet: one `tributary query` process per run (wall time measured around it, so
// process start-up counts against Tributary) against one DuckDB query (timed inside
// node, start-up excluded), at 1 and 2 threads.
// (d) the streaming job, files landing one at a time: feed.mjs (Tributary, continuous
// trigger) against duck_stream.mjs (DuckDB, one upsert query per file).
// (e) peak RSS of every run above.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const env = process.env;
const BIN = env.TB_BIN;
const ROWS = Number(env.ROWS), FILES = Number(env.FILES), REPEAT = Number(env.REPEAT);
const SMALL_FILES = Number(env.SMALL_FILES), RSS_FILES = Number(env.RSS_FILES);
const D = env.D;
const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp';

const median = (a) => { const s = a.filter((x) => Number.isFinite(x)).sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : NaN; };
const quant = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.max(0, Math.min(s.length - 1, Math.ceil(p * s.length) - 1))] : NaN; };
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const mib = (kb) => (kb / 1024).toFixed(0);
function die(msg) { console.error(`bench: ${msg}`); process.exit(1); }
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.status !== 0) die(`${cmd} ${args.slice(0, 3).join(' ')}... failed (${r.status}): ${r.stderr}`);
  return r;
}
const log = (s) => process.stderr.write(`bench: ${s}\n`);

// ---------------------------------------------------------------- (a)-(c)
const TSCHEMA = "schema => 'sale_id int, product_id int, quantity int, ts timestamp'";
const DCSV = `header=true, auto_detect=false, delim=',', quote='"', columns={'sale_id':'INTEGER','product_id':'INTEGER','quantity':'INTEGER','ts':'TIMESTAMP'}`;
const cases = [
  { id: 'a', name: '(a) parse 4 CSV columns', target: null,
    t: `SELECT count(*), sum(sale_id), sum(product_id), sum(quantity), max(ts) FROM read_csv('${D}/sales', ${TSCHEMA})`,
    d: `SELECT count(*), sum(sale_id), sum(product_id), sum(quantity), max(ts) FROM read_csv('${D}/sales/*.csv', ${DCSV})` },
  { id: 'b', name: '(b) reference job over CSV', target: 2.0,
    t: `SELECT tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity) FROM read_csv('${D}/sales', ${TSCHEMA}) JOIN read_parquet('${D}/products.parquet') USING (product_id) GROUP BY 1, 2`,
    d: `SELECT time_bucket(INTERVAL '10 seconds', ts) AS w, category, sum(quantity) FROM read_csv('${D}/sales/*.csv', ${DCSV}) JOIN read_parquet('${D}/products.parquet') USING (product_id) GROUP BY 1, 2` },
  { id: 'c', name: '(c) reference job over Parquet', target: 1.0,
    t: `SELECT tumble(ts, INTERVAL '10 seconds') AS w, category, sum(quantity) FROM read_parquet('${D}/sales.parquet') JOIN read_parquet('${D}/products.parquet') USING (product_id) GROUP BY 1, 2`,
    d: `SELECT time_bucket(INTERVAL '10 seconds', ts) AS w, category, sum(quantity) FROM read_parquet('${D}/sales.parquet') JOIN read_parquet('${D}/products.parquet') USING (product_id) GROUP BY 1, 2` },
];

// CSV result -> checksum as duck.mjs computes it
function checksum(csv) {
  const lines = csv.trim().split('\n').slice(1);
  if (lines.length === 1) return { rows: 1, check: lines[0].split(',').join('|') };
  let s = 0n;
  for (const l of lines) s += BigInt(l.slice(l.lastIndexOf(',') + 1));
  return { rows: lines.length, check: String(s) };
}
function tributaryQuery(sql, threads) {
  const t0 = process.hrtime.bigint();
  const r = run('/usr/bin/time', ['-f', 'TBTIME %M %P', BIN, 'query', '--format', 'csv', `SET threads = ${threads}; ${sql}`]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const m = /TBTIME (\d+) (\d+)%/.exec(r.stderr);
  return { ms, rss: m ? Number(m[1]) : NaN, cpu: m ? Number(m[2]) : NaN, ...checksum(r.stdout) };
}
function duckQuery(sql, threads) {
  const r = run('node', ['duck.mjs', String(threads), '1', sql]);
  const m = /^([\d.]+) (\d+) (\d+) (.*)$/.exec(r.stdout.trim());
  if (!m) die(`duck.mjs said '${r.stdout}'`);
  return { ms: Number(m[1]), rows: Number(m[2]), rss: Number(m[3]), check: m[4] };
}

const out = [];
const p = (s) => { out.push(s); console.log(s); };
// PARTS=stream-state / stream-join (issue 9, (f) and (g)): those alone (stream_state.mjs).
if (env.PARTS && env.PARTS.startsWith('stream-')) {
  const { stateBench } = await import('./stream_state.mjs');
  await stateBench({ BIN, D, PARTS: env.PARTS, p, log, die });
  fs.writeFileSync(`${D}/last-table.md`, out.join('\n') + '\n');
  process.exit(0);
}

p(`Data: ${ROWS.toLocaleString('en')} sales rows in ${FILES} CSV files (${f0(duSize(`${D}/sales`) / 1048576)} MiB), the same rows in one Parquet file (${f0(duSize(`${D}/sales.parquet`) / 1048576)} MiB, written by DuckDB), 1,000 products in Parquet. ${REPEAT} runs each, medians.`);
p('');
p('| case | threads | Tributary ms | DuckDB ms | Tributary M rows/s | DuckDB M rows/s | Tributary/DuckDB speed | target | Tributary CPU % | Tributary peak RSS MiB | DuckDB peak RSS MiB | same answer |');
p('|---|---|---|---|---|---|---|---|---|---|---|---|');
const batchRss = [];
for (const c of cases) {
  for (const th of [1, 2]) {
    log(`${c.name}, ${th} thread(s)`);
    const T = [], K = [];
    for (let i = 0; i < REPEAT; i++) {
      T.push(tributaryQuery(c.t, th));
      K.push(duckQuery(c.d, th));
    }
    const tm = median(T.map((x) => x.ms)), dm = median(K.map((x) => x.ms));
    const same = T.every((x) => x.rows === K[0].rows && x.check === K[0].check) && K.every((x) => x.check === K[0].check);
    if (!same) log(`answers differ: tributary ${JSON.stringify(T[0])} duckdb ${JSON.stringify(K[0])}`);
    const trss = Math.max(...T.map((x) => x.rss)), drss = Math.max(...K.map((x) => x.rss));
    batchRss.push(trss);
    const ratio = dm / tm;
    p(`| ${c.name} | ${th} | ${f0(tm)} | ${f0(dm)} | ${f1(ROWS / tm / 1000)} | ${f1(ROWS / dm / 1000)} | **${f2(ratio)}x** | ${c.target ? `>= ${c.target.toFixed(1)}x ${ratio >= c.target ? 'met' : 'NOT met'}` : ''} | ${f0(median(T.map((x) => x.cpu)))} | ${mib(trss)} | ${mib(drss)} | ${same ? 'yes' : 'NO'} |`);
  }
}
const base = duckQuery('SELECT 42', 1);
p('');
p(`Speed ratio = DuckDB time / Tributary time (above 1: Tributary is faster). DuckDB's RSS includes node (${mib(base.rss)} MiB for \`SELECT 42\`).`);

// PARTS=batch: (a)-(c) and the batch row of (e) only (make bench runs everything).
if (env.PARTS === 'batch') {
  p('');
  p('| (e) peak RSS | Tributary MiB | target |');
  p('|---|---|---|');
  p(`| batch (a)-(c), largest | ${mib(Math.max(...batchRss))} | < 256 ${Math.max(...batchRss) < 256 * 1024 ? 'met' : 'NOT met'} |`);
  fs.writeFileSync(`${D}/last-table.md`, out.join('\n') + '\n');
  process.exit(0);
}

function duSize(path) {
  const r = spawnSync('du', ['-sb', path], { encoding: 'utf8' });
  return Number((r.stdout || '0').split('\t')[0]);
}

// ---------------------------------------------------------------- (d)
// The streaming part lives in stream.mjs (it also runs on its own).
const { streamBench } = await import('./stream.mjs');
const { streamRss, manyRss, manyFps } = streamBench({
  BIN, BASE: env.TB_BIN_BASE || null, D, ROWS, FILES, REPEAT, RSS_FILES, p, log, die,
});

// ---------------------------------------------------------------- (e)
p('');
p('| (e) peak RSS | Tributary MiB | target |');
p('|---|---|---|');
p(`| batch (a)-(c), largest | ${mib(Math.max(...batchRss))} | < 256 ${Math.max(...batchRss) < 256 * 1024 ? 'met' : 'NOT met'} |`);
p(`| streaming (d), largest | ${mib(Math.max(...streamRss))} | < 64 ${Math.max(...streamRss) < 64 * 1024 ? 'met' : 'NOT met'} |`);
if (RSS_FILES > 0) p(`| streaming, ${RSS_FILES.toLocaleString('en')} files of 1,000 rows (${f0(manyFps)} files/s) | ${mib(manyRss)} | < 64 ${manyRss < 64 * 1024 ? 'met' : 'NOT met'} |`);
// ---------------------------------------------------------------- (f), (g)
{
  const { stateBench } = await import('./stream_state.mjs');
  await stateBench({ BIN, D, PARTS: 'stream-state,stream-join', p, log, die });
}
fs.writeFileSync(`${D}/last-table.md`, out.join('\n') + '\n');
