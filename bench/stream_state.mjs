// bench (f) and (g) of issue 9: per-batch cost must not grow with the state or with the
// static table of a stream-static join. Both jobs read the datagen source (no files).
//   (f) state growth: one 5,000-row batch after another, a group key new in every row
//       (GROUP BY sale_id), up to STATE_GROUPS groups (default 10,000,000): median batch
//       time of the last 10 batches against batches 2-11 (target <= 2x), checkpoint
//       bytes written per batch (the process's write(2) bytes / batches), restart time
//       on the final checkpoint, peak RSS against the state's bytes (target <= 3x);
//   (g) stream-static join: the reference job (tumble + category) over 1,000-row
//       batches joined with 2,000,000 products, against the same job with 1,000
//       products: median batch time (target <= 2x).
// Called by bench.mjs (PARTS=stream-state or PARTS=stream-join runs one alone), or on
// its own: cd bench && TB_BIN=../build/release/tributary D=data node stream_state.mjs
// (env STATE_GROUPS, JOIN_BATCHES, PARTS).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const median = (a) => { const s = a.filter((x) => Number.isFinite(x)).sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : NaN; };
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const mib = (b) => (b / 1048576).toFixed(0);

// Run `bin args` under /usr/bin/time, sampling /proc/<pid>/io (write bytes) until it
// ends. Returns { status, ms, rssKb, wchar }.
async function measured(bin, args, env) {
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', bin, ...args],
    { cwd: HERE, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  let wchar = 0;
  const timer = setInterval(() => {
    // the child of /usr/bin/time is the job: find it by parent pid
    try {
      const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
      for (const k of kids.split(/\s+/).filter(Boolean)) {
        const io = fs.readFileSync(`/proc/${k}/io`, 'utf8');
        const m = io.match(/wchar: (\d+)/);
        if (m) wchar = Math.max(wchar, Number(m[1]));
      }
    } catch { /* gone */ }
  }, 100);
  const status = await new Promise((res) => child.on('close', res));
  clearInterval(timer);
  const lines = err.trim().split('\n');
  return { status, ms: performance.now() - t0, rssKb: Number(lines[lines.length - 1]), wchar, err };
}

const progress = (file) => fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

/* ctx: { BIN, D, p, log, die, PARTS }. */
export async function stateBench(ctx) {
  const { BIN, D, p, log, die } = ctx;
  const parts = ctx.PARTS || 'stream-state,stream-join';
  const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
  const WORK = fs.mkdtempSync(`${SHM}/tb-bench-state-`);
  try {
    if (parts.includes('stream-state')) {
      // ---------------------------------------------------------------- (f)
      const groups = Number(process.env.STATE_GROUPS || 10000000);
      const job = `${WORK}/state.sql`;
      fs.writeFileSync(job, `CREATE TABLE sales (sale_id bigint, product_id int, quantity int, ts timestamp)
  WITH (connector = 'datagen', rows = '${groups}', max_rows_per_trigger = '5000', seed = '3');
CREATE MATERIALIZED VIEW by_sale AS SELECT sale_id, sum(quantity) AS q FROM sales GROUP BY 1;
`);
      const ckpt = `${WORK}/ckpt-state`;
      log(`(f) state growth: ${groups.toLocaleString('en')} groups in 5,000-row batches`);
      const r = await measured(BIN, ['run', job, '--checkpoint', ckpt, '--trigger', 'available-now',
        '--quiet', '--progress', `${WORK}/state.jsonl`], process.env);
      if (r.status !== 0) die(`(f) job failed: ${r.err}`);
      const pr = progress(`${WORK}/state.jsonl`);
      const ms = pr.map((x) => x.durationMs.total);
      const ck = pr.map((x) => x.durationMs.checkpoint);
      const early = median(ms.slice(1, 11)), late = median(ms.slice(-10));
      const last = pr[pr.length - 1];
      const t = performance.now();
      const rs = spawnSync(BIN, ['run', job, '--checkpoint', ckpt, '--trigger', 'available-now', '--quiet'],
        { cwd: HERE, encoding: 'utf8' });
      const restartMs = performance.now() - t;
      if (rs.status !== 0) die(`(f) restart failed: ${rs.stderr}`);
      const ratio = late / early, rssRatio = (r.rssKb * 1024) / last.stateBytes;
      p('');
      p('| (f) state growth (datagen, 5,000 new keys per batch) | value | target |');
      p('|---|---|---|');
      p(`| batches, groups at the end | ${pr.length}, ${last.stateRows.toLocaleString('en')} | |`);
      p(`| median batch ms, batches 2-11 | ${f1(early)} | |`);
      p(`| median batch ms, last 10 | ${f1(late)} | |`);
      p(`| ratio last / early | **${f2(ratio)}x** | <= 2x ${ratio <= 2 ? 'met' : 'NOT met'} |`);
      p(`| median checkpoint ms per batch, early / last 10 | ${f1(median(ck.slice(1, 11)))} / ${f1(median(ck.slice(-10)))} | |`);
      p(`| checkpoint bytes written per batch (write(2) bytes / batches) | ${Math.round(r.wchar / pr.length).toLocaleString('en')} | ~ changed groups |`);
      p(`| restart on the final checkpoint (process, ms) | ${f1(restartMs)} | printed |`);
      p(`| stateBytes, peak RSS (MiB) | ${mib(last.stateBytes)}, ${mib(r.rssKb * 1024)} | |`);
      p(`| peak RSS / stateBytes | **${f2(rssRatio)}x** | <= 3x ${rssRatio <= 3 ? 'met' : 'NOT met'} |`);
    }
    if (parts.includes('stream-join')) {
      // ---------------------------------------------------------------- (g)
      const batches = Number(process.env.JOIN_BATCHES || 100);
      const big = `${D}/products-2m.parquet`;
      if (!fs.existsSync(big)) {
        log('(g) generating 2,000,000 products');
        const g = spawnSync(BIN, ['generate', 'products', '--out', big, '--products', '2000000'], { encoding: 'utf8' });
        if (g.status !== 0) die(`generate products: ${g.stderr}`);
      }
      const small = fs.realpathSync(`${D}/products.parquet`);
      const rows = {};
      for (const [name, file] of [['1,000 products', small], ['2,000,000 products', fs.realpathSync(big)]]) {
        const job = `${WORK}/join.sql`;
        fs.writeFileSync(job, `CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${file}');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'datagen', rows = '${batches * 1000}', max_rows_per_trigger = '1000',
        products = '1000', seed = '5');
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category, sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id) GROUP BY 1, 2;
`);
        fs.rmSync(`${WORK}/ckpt-join`, { recursive: true, force: true });
        fs.rmSync(`${WORK}/join.jsonl`, { force: true });
        const r = await measured(BIN, ['run', job, '--checkpoint', `${WORK}/ckpt-join`, '--trigger',
          'available-now', '--quiet', '--progress', `${WORK}/join.jsonl`], process.env);
        if (r.status !== 0) die(`(g) job failed: ${r.err}`);
        const pr = progress(`${WORK}/join.jsonl`);
        rows[name] = { first: pr[0].durationMs.total, med: median(pr.slice(1).map((x) => x.durationMs.total)), n: pr.length, rss: r.rssKb };
      }
      const a = rows['1,000 products'], b = rows['2,000,000 products'];
      const ratio = b.med / a.med;
      p('');
      p('| (g) stream-static join, 1,000-row batches | first batch ms (builds) | median batch ms (2nd on) | peak RSS MiB | target |');
      p('|---|---|---|---|---|');
      p(`| 1,000 products | ${f1(a.first)} | ${f2(a.med)} | ${mib(a.rss * 1024)} | |`);
      p(`| 2,000,000 products | ${f1(b.first)} | ${f2(b.med)} | ${mib(b.rss * 1024)} | |`);
      p(`| ratio | | **${f2(ratio)}x** | | <= 2x ${ratio <= 2 ? 'met' : 'NOT met'} |`);
    }
  } finally {
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const BIN = path.resolve(process.env.TB_BIN || '../build/release/tributary');
  const D = process.env.D || 'data';
  fs.mkdirSync(D, { recursive: true });
  if (!fs.existsSync(`${D}/products.parquet`))
    spawnSync(BIN, ['generate', 'products', '--out', `${D}/products.parquet`, '--products', '1000']);
  await stateBench({
    BIN, D, PARTS: process.env.PARTS,
    p: (s) => console.log(s), log: (s) => console.error(s),
    die: (s) => { console.error(s); process.exit(1); },
  });
}
