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
const PRODUCTS = fs.realpathSync(`${D}/products.parquet`);
const WORK = `${D}/work`;
const rowsPerBig = Math.floor(ROWS / FILES);
function feed(job, src, n, ivMs, ckpt, maxf = '1') {
  const e = { ...env };
  if (ckpt === 'memory') e.TB_BENCH_CKPT = `${SHM}/tributary-bench-ckpt-${process.pid}`;
  else delete e.TB_BENCH_CKPT;
  const r = run('node', ['feed.mjs', BIN, job, src, WORK, String(n), String(ivMs), `PRODUCTS=${PRODUCTS}`, `MAXF=${maxf}`, `OUT=${fs.realpathSync(D)}/work-out`], { env: e });
  fs.rmSync(`${D}/work-out`, { recursive: true, force: true });
  return JSON.parse(r.stdout);
}
function duckStream(src, n, ckpt) {
  const args = ['duck_stream.mjs', '1', src, String(n), PRODUCTS];
  if (ckpt === 'disk') args.push(`${WORK}-duck.db`);
  return JSON.parse(run('node', args).stdout);
}
// The disk's fsync latency now (this machine's disk is shared: it swings from ~1 to
// ~25 ms when other jobs write), so the "disk" rows can be read against it.
function fsyncProbe() {
  const f = `${D}/fsync-probe`, buf = Buffer.alloc(4096, 1), ms = [];
  const fd = fs.openSync(f, 'w');
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    fs.writeSync(fd, buf, 0, buf.length, 0);
    fs.fsyncSync(fd);
    ms.push(performance.now() - t);
  }
  fs.closeSync(fd);
  fs.rmSync(f);
  return median(ms);
}
const fsyncBefore = fsyncProbe();
const configs = [
  { label: '1,000', src: `${D}/small`, rows: 1000, tputN: 500, latN: 200, ckpt: 'memory', iv: 10 },
  { label: '1,000', src: `${D}/small`, rows: 1000, tputN: 200, latN: 100, ckpt: 'disk', iv: 60 },
  { label: rowsPerBig.toLocaleString('en'), src: `${D}/sales`, rows: rowsPerBig, tputN: FILES - 1, latN: Math.min(FILES - 1, 30), ckpt: 'memory', iv: 250 },
  { label: rowsPerBig.toLocaleString('en'), src: `${D}/sales`, rows: rowsPerBig, tputN: FILES - 1, latN: Math.min(FILES - 1, 30), ckpt: 'disk', iv: 300 },
];
p('');
p('| rows per file | checkpoint | files | Tributary files/s | DuckDB files/s | Tributary/DuckDB | Tributary latency p50 / p99 ms | DuckDB query p50 / p99 ms | Tributary peak RSS MiB | DuckDB peak RSS MiB | same view |');
p('|---|---|---|---|---|---|---|---|---|---|---|');
const streamRss = [];
for (const c of configs) {
  log(`(d) ${c.label}-row files, checkpoint on ${c.ckpt}`);
  const T = [], K = [], L = [], TL = [], KL = [];
  for (let i = 0; i < REPEAT; i++) {
    T.push(feed('stream_job.sql', c.src, c.tputN, 0, c.ckpt));
    L.push(feed('stream_job.sql', c.src, c.latN, c.iv, c.ckpt));
    K.push(duckStream(c.src, c.tputN, c.ckpt));
  }
  for (const x of L) TL.push(...x.lat);
  for (const x of K) KL.push(...x.lat);
  const tf = median(T.map((x) => x.files_per_s)), kf = median(K.map((x) => x.files_per_s));
  const same = T.every((x) => x.groups === K[0].groups && x.total_quantity === K[0].total_quantity);
  if (!same) log(`views differ: tributary ${T[0].groups} ${T[0].total_quantity}, duckdb ${K[0].groups} ${K[0].total_quantity}`);
  const trss = Math.max(...T.map((x) => x.rss_kb), ...L.map((x) => x.rss_kb));
  streamRss.push(trss);
  c.result = { tf, kf, tp50: quant(TL, 0.5), tp99: quant(TL, 0.99), batch: L[0].batch_ms_p50 };
  const met = (ok) => (ok ? 'met' : 'NOT met');
  const p99 = quant(TL, 0.99);
  p(`| ${c.label} | ${c.ckpt === 'memory' ? 'tmpfs (no fsync)' : 'disk (fsync)'} | ${c.tputN} | ${f1(tf)} (${f2(tf * c.rows / 1e6)} M rows/s) | ${f1(kf)} | **${f2(tf / kf)}x** (>= 3x ${met(tf / kf >= 3)}) | ${f2(quant(TL, 0.5))} / ${f2(p99)}${c.rows === 1000 ? ` (< 5 ${met(p99 < 5)})` : ''}; ${c.latN} files, one every ${c.iv} ms | ${f2(quant(KL, 0.5))} / ${f2(quant(KL, 0.99))} | ${mib(trss)} | ${mib(Math.max(...K.map((x) => x.rss_kb)))} | ${same ? 'yes' : 'NO'} |`);
}
p('');
p('Throughput: files renamed into the directory back to back, one batch per file (`max_files_per_trigger = 1`) against one DuckDB query per file; Tributary\'s figure runs from the first rename to the last batch\'s commit. Tributary latency: rename -> end of the batch that read the file (view updated, checkpoint committed), files landing at the interval shown, pooled over the runs. DuckDB\'s: the upsert query alone (no file discovery), a lower bound. "tmpfs": Tributary\'s checkpoint on tmpfs, DuckDB in memory; "disk": Tributary\'s checkpoint on ext4 (fsync), DuckDB on a database file (WAL fsync per commit). One thread each.');

p(`fsync of a 4 KiB write on this disk (median of 30): ${f2(fsyncBefore)} ms before (d), ${f2(fsyncProbe())} ms after.`);

// Per-batch phases, and the full reference job (Delta sink) for information.
p('');
p('Tributary per-batch phases (median ms, latency runs): ' + configs.map((c) => `${c.label} rows/${c.ckpt}: ${Object.entries(c.result.batch).map(([k, v]) => `${k} ${f2(v)}`).join(', ')}`).join('; ') + '.');
log('(d) reference job with its Delta sink');
const RJ = [];
for (let i = 0; i < REPEAT; i++) RJ.push(feed('stream_job_delta.sql', `${D}/small`, 100, 0, 'disk'));
log('(d) default batching, disk');
const DB = [];
for (let i = 0; i < REPEAT; i++) DB.push(feed('stream_job.sql', `${D}/small`, 500, 0, 'disk', '0'));
p(`Default batching (\`max_files_per_trigger\` unset: a batch takes every file present), 1,000-row files, disk: ${f1(median(DB.map((x) => x.files_per_s)))} files/s back to back (${f1(median(DB.map((x) => x.files / x.batches)))} files per batch).`);
p(`With the reference job's Delta sink too (stream_job_delta.sql, 1,000-row files, disk): ${f1(median(RJ.map((x) => x.files_per_s)))} files/s back to back, batch phases ${Object.entries(RJ[0].batch_ms_p50).map(([k, v]) => `${k} ${f2(v)}`).join(', ')} ms.`);

// ---------------------------------------------------------------- (e)
let manyRss = NaN, manyFps = NaN;
if (RSS_FILES > 0) {
  log(`(e) streaming RSS over ${RSS_FILES} files`);
  const r = feed('stream_job.sql', `${D}/small`, RSS_FILES - 1, 0, 'memory');
  manyRss = r.rss_kb;
  manyFps = r.files_per_s;
}
p('');
p('| (e) peak RSS | Tributary MiB | target |');
p('|---|---|---|');
p(`| batch (a)-(c), largest | ${mib(Math.max(...batchRss))} | < 256 ${Math.max(...batchRss) < 256 * 1024 ? 'met' : 'NOT met'} |`);
p(`| streaming (d), largest | ${mib(Math.max(...streamRss))} | < 64 ${Math.max(...streamRss) < 64 * 1024 ? 'met' : 'NOT met'} |`);
if (RSS_FILES > 0) p(`| streaming, ${RSS_FILES.toLocaleString('en')} files of 1,000 rows (${f0(manyFps)} files/s) | ${mib(manyRss)} | < 64 ${manyRss < 64 * 1024 ? 'met' : 'NOT met'} |`);
fs.writeFileSync(`${D}/last-table.md`, out.join('\n') + '\n');
