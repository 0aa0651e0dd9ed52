// bench (d) and (e), the streaming part: the streaming job with files landing one at a
// time, Tributary (feed.mjs: continuous trigger, checkpoint on tmpfs or on disk) against
// DuckDB (duck_stream.mjs: one upsert query per file, in memory or on a database file),
// plus the job's peak RSS over many files. bench.mjs calls streamBench(); it also runs on
// its own (same environment as bench.mjs: TB_BIN, D, ROWS, FILES, REPEAT, SMALL_FILES,
// RSS_FILES) and then prints only these tables:
//   cd bench && TB_BIN=../build/release/tributary D=data ROWS=10000000 FILES=100 \
//     REPEAT=3 RSS_FILES=0 node stream.mjs
// TB_BIN_BASE=other/tributary adds rows for that binary, run interleaved with TB_BIN
// (a before/after comparison in one run). When strace is installed, the fsync calls per
// batch are counted on short runs (disk checkpoint).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const median = (a) => { const s = a.filter((x) => Number.isFinite(x)).sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : NaN; };
const quant = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.max(0, Math.min(s.length - 1, Math.ceil(p * s.length) - 1))] : NaN; };
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const mib = (kb) => (kb / 1024).toFixed(0);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// The disk's fsync latency now (this machine's disk is shared: it swings from ~0.1 to
// ~25 ms when other jobs write), so the "disk" rows can be read against it.
function fsyncProbe(dir) {
  const f = `${dir}/fsync-probe`, buf = Buffer.alloc(4096, 1), ms = [];
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

/*
 * ctx: { BIN, BASE (optional), D, ROWS, FILES, REPEAT, RSS_FILES, p (print a markdown
 * line), log, die }. Returns { streamRss: [kB], manyRss, manyFps }.
 */
export function streamBench(ctx) {
  const { BIN, BASE, D, ROWS, FILES, REPEAT, RSS_FILES, p, log, die } = ctx;
  const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
  const run = (cmd, args, opts = {}) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, cwd: HERE, ...opts });
    if (r.status !== 0) die(`${cmd} ${args.slice(0, 3).join(' ')}... failed (${r.status}): ${r.stderr}`);
    return r;
  };
  const PRODUCTS = fs.realpathSync(`${D}/products.parquet`);
  const WORK = `${D}/work`;
  const rowsPerBig = Math.floor(ROWS / FILES);
  const feed = (bin, job, src, n, ivMs, ckpt, maxf = '1', runArgs = '') => {
    const e = { ...process.env };
    if (ckpt === 'memory') e.TB_BENCH_CKPT = `${SHM}/tributary-bench-ckpt-${process.pid}`;
    else delete e.TB_BENCH_CKPT;
    e.TB_BENCH_RUN_ARGS = runArgs;
    const r = run('node', ['feed.mjs', bin, job, src, WORK, String(n), String(ivMs), `PRODUCTS=${PRODUCTS}`, `MAXF=${maxf}`, `OUT=${fs.realpathSync(D)}/work-out`], { env: e });
    fs.rmSync(`${D}/work-out`, { recursive: true, force: true });
    return JSON.parse(r.stdout);
  };
  const duckStream = (src, n, ckpt) => {
    const args = ['duck_stream.mjs', '1', src, String(n), PRODUCTS];
    if (ckpt === 'disk') args.push(`${WORK}-duck.db`);
    return JSON.parse(run('node', args).stdout);
  };
  const bins = [{ label: 'Tributary', bin: BIN }];
  if (BASE) bins.push({ label: process.env.TB_BIN_BASE_LABEL || 'before', bin: BASE });

  p('');
  p(`Streaming: load ${loadavg()} at the start of (d).`);
  const fsyncBefore = fsyncProbe(D);
  const configs = [
    { label: '1,000', src: `${D}/small`, rows: 1000, tputN: 500, latN: 200, ckpt: 'memory', iv: 10 },
    { label: '1,000', src: `${D}/small`, rows: 1000, tputN: 200, latN: 100, ckpt: 'disk', iv: 60 },
    { label: '1,000', src: `${D}/small`, rows: 1000, tputN: 200, latN: 100, ckpt: 'disk', iv: 60, sync: true },
    { label: rowsPerBig.toLocaleString('en'), src: `${D}/sales`, rows: rowsPerBig, tputN: FILES - 1, latN: Math.min(FILES - 1, 30), ckpt: 'memory', iv: 250 },
    { label: rowsPerBig.toLocaleString('en'), src: `${D}/sales`, rows: rowsPerBig, tputN: FILES - 1, latN: Math.min(FILES - 1, 30), ckpt: 'disk', iv: 300 },
  ];
  p('');
  p('| engine | rows per file | checkpoint | files | files/s | DuckDB files/s | Tributary/DuckDB | latency p50 / p99 ms | DuckDB query p50 / p99 ms | peak RSS MiB | DuckDB peak RSS MiB | same view |');
  p('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const streamRss = [];
  const phases = [];
  for (const c of configs) {
    log(`(d) ${c.label}-row files, checkpoint on ${c.ckpt}${c.sync ? ', --sync-every-batch' : ''}`);
    const cbins = c.sync ? bins.slice(0, 1) : bins; /* the before binary has no such option */
    const R = cbins.map(() => ({ T: [], L: [], TL: [] }));
    const K = [], KL = [];
    for (let i = 0; i < REPEAT; i++) {
      cbins.forEach((b, j) => {
        // (the flag is this version's: the before binary syncs every batch anyway)
        const ra = c.sync && j === 0 ? '--sync-every-batch' : '';
        R[j].T.push(feed(b.bin, 'stream_job.sql', c.src, c.tputN, 0, c.ckpt, '1', ra));
        R[j].L.push(feed(b.bin, 'stream_job.sql', c.src, c.latN, c.iv, c.ckpt, '1', ra));
      });
      K.push(duckStream(c.src, c.tputN, c.ckpt));
    }
    for (const x of K) KL.push(...x.lat);
    const kf = median(K.map((x) => x.files_per_s));
    const met = (ok) => (ok ? 'met' : 'NOT met');
    cbins.forEach((b, j) => {
      const { T, L, TL } = R[j];
      for (const x of L) TL.push(...x.lat);
      const tf = median(T.map((x) => x.files_per_s));
      const same = T.every((x) => x.groups === K[0].groups && x.total_quantity === K[0].total_quantity);
      if (!same) log(`views differ: ${b.label} ${T[0].groups} ${T[0].total_quantity}, duckdb ${K[0].groups} ${K[0].total_quantity}`);
      const trss = Math.max(...T.map((x) => x.rss_kb), ...L.map((x) => x.rss_kb));
      if (j === 0) {
        streamRss.push(trss);
        phases.push(`${c.label} rows/${c.ckpt}${c.sync ? '/sync every batch' : ''}: ${Object.entries(L[0].batch_ms_p50).map(([k, v]) => `${k} ${f2(v)}`).join(', ')}`);
      }
      const p99 = quant(TL, 0.99);
      const ck = c.ckpt === 'memory' ? 'tmpfs' : c.sync ? 'disk, fdatasync every batch (`--sync-every-batch`)' : j === 0 ? 'disk (default: view-only query, sync when idle)' : 'disk (6 fsyncs per batch)';
      p(`| ${b.label} | ${c.label} | ${ck} | ${c.tputN} | ${f1(tf)} (${f2(tf * c.rows / 1e6)} M rows/s) | ${f1(kf)} | **${f2(tf / kf)}x** (>= 3x ${met(tf / kf >= 3)}) | ${f2(quant(TL, 0.5))} / ${f2(p99)}${c.rows === 1000 ? ` (< 5 ${met(p99 < 5)})` : ''}; ${c.latN} files, one every ${c.iv} ms | ${f2(quant(KL, 0.5))} / ${f2(quant(KL, 0.99))} | ${mib(trss)} | ${mib(Math.max(...K.map((x) => x.rss_kb)))} | ${same ? 'yes' : 'NO'} |`);
    });
  }
  p('');
  p('Throughput: files renamed into the directory back to back, one batch per file (`max_files_per_trigger = 1`) against one DuckDB query per file; Tributary\'s figure runs from the first rename to the end of the last batch. Tributary latency: rename -> end of the batch that read the file (view updated; its checkpoint record, which also commits the previous batch, appended before it ran), files landing at the interval shown, pooled over the runs. DuckDB\'s: the upsert query alone (no file discovery), a lower bound. "tmpfs": Tributary\'s checkpoint on tmpfs, DuckDB in memory; "disk": Tributary\'s checkpoint on the disk (ext4; the default row\'s view-only query syncs its checkpoint log when idle, the \`--sync-every-batch\` row once per batch before the batch runs, the before rows 6 fsyncs per batch), DuckDB on a database file (WAL fsync per commit). One thread each.');
  p(`fsync of a 4 KiB write on this disk (median of 30): ${f2(fsyncBefore)} ms before (d), ${f2(fsyncProbe(D))} ms after; load ${loadavg()} after (d).`);
  p('');
  p('Tributary per-batch phases (median ms, latency runs): ' + phases.join('; ') + '.');

  // fsync calls per batch (strace -c), checkpoint on disk, back to back.
  if (spawnSync('strace', ['-V']).status === 0) {
    const count = (job, n, extra = []) => {
      const ck = `${WORK}-strace-ckpt`, dir = `${WORK}-strace-in`, out = `${WORK}-strace-out`;
      for (const x of [ck, dir, out]) fs.rmSync(x, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      const names = fs.readdirSync(`${D}/small`).filter((x) => x.endsWith('.csv')).sort().slice(0, n);
      for (const x of names) fs.linkSync(`${D}/small/${x}`, `${dir}/${x}`);
      const r = spawnSync('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', BIN, 'run', job, '--trigger', 'available-now', '--quiet', '--checkpoint', ck,
        '--set', `DIR=${dir}`, '--set', `PRODUCTS=${PRODUCTS}`, '--set', 'MAXF=1', '--set', `OUT=${out}`, ...extra], { encoding: 'utf8', cwd: HERE });
      for (const x of [ck, dir, out]) fs.rmSync(x, { recursive: true, force: true });
      let calls = 0;
      for (const m of r.stderr.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/gm)) calls += Number(m[1]);
      return calls;
    };
    const n = 200;
    const plain = count('stream_job.sql', n), every = count('stream_job.sql', n, ['--sync-every-batch']);
    const delta = count('stream_job_delta.sql', n);
    p(`fsync + fdatasync calls (strace), ${n} batches of one file back to back (\`--trigger available-now\`), checkpoint on disk, start-up and stop included: ${plain} for stream_job.sql (${f2(plain / n)} per batch: its view-only query syncs when idle), ${every} with \`--sync-every-batch\` (${f2(every / n)} per batch), ${delta} for stream_job_delta.sql, whose Delta sink makes each record sync before the batch runs (${f2(delta / n)} per batch; the sink appends nothing until a window closes, so it adds no version and no fsync).`);
  }

  log('(d) reference job with its Delta sink');
  const RJ = [];
  for (let i = 0; i < REPEAT; i++) RJ.push(feed(BIN, 'stream_job_delta.sql', `${D}/small`, 100, 0, 'disk'));
  log('(d) default batching, disk');
  const DB = [];
  for (let i = 0; i < REPEAT; i++) DB.push(feed(BIN, 'stream_job.sql', `${D}/small`, 500, 0, 'disk', '0'));
  p(`Default batching (\`max_files_per_trigger\` unset: a batch takes every file present), 1,000-row files, disk: ${f1(median(DB.map((x) => x.files_per_s)))} files/s back to back (${f1(median(DB.map((x) => x.files / x.batches)))} files per batch).`);
  p(`With the reference job's Delta sink too (stream_job_delta.sql, 1,000-row files, disk): ${f1(median(RJ.map((x) => x.files_per_s)))} files/s back to back, batch phases ${Object.entries(RJ[0].batch_ms_p50).map(([k, v]) => `${k} ${f2(v)}`).join(', ')} ms.`);

  // (e) the streaming job's RSS over many files
  let manyRss = NaN, manyFps = NaN;
  if (RSS_FILES > 0) {
    log(`(e) streaming RSS over ${RSS_FILES} files`);
    const r = feed(BIN, 'stream_job.sql', `${D}/small`, RSS_FILES - 1, 0, 'memory');
    manyRss = r.rss_kb;
    manyFps = r.files_per_s;
  }
  return { streamRss, manyRss, manyFps };
}

// On its own: the (d) table and the streaming lines of (e).
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const env = process.env;
  const out = [];
  const p = (s) => { out.push(s); console.log(s); };
  const log = (s) => process.stderr.write(`bench: ${s}\n`);
  const die = (msg) => { console.error(`bench: ${msg}`); process.exit(1); };
  const r = streamBench({
    BIN: path.resolve(env.TB_BIN || `${HERE}/../build/release/tributary`),
    BASE: env.TB_BIN_BASE ? path.resolve(env.TB_BIN_BASE) : null,
    D: path.resolve(HERE, env.D || 'data'), ROWS: Number(env.ROWS || 10000000), FILES: Number(env.FILES || 100),
    REPEAT: Number(env.REPEAT || 3), RSS_FILES: Number(env.RSS_FILES ?? 10000), p, log, die,
  });
  p('');
  p('| (e) peak RSS | Tributary MiB | target |');
  p('|---|---|---|');
  p(`| streaming (d), largest | ${mib(Math.max(...r.streamRss))} | < 64 ${Math.max(...r.streamRss) < 64 * 1024 ? 'met' : 'NOT met'} |`);
  if (Number.isFinite(r.manyRss)) p(`| streaming, ${Number(env.RSS_FILES).toLocaleString('en')} files of 1,000 rows (${f0(r.manyFps)} files/s) | ${mib(r.manyRss)} | < 64 ${r.manyRss < 64 * 1024 ? 'met' : 'NOT met'} |`);
}
