// bench (d), Tributary side: runs `tributary run JOB --trigger continuous --progress FILE`
// on an empty stream directory and feeds it the CSV files of SRC one at a time, the way a
// writer should (the file is hard-linked under a hidden name first, then rename(2)d into
// place), recording the wall time just before each rename. Latency of a file = end of
// the batch that read it (progress record: "timestamp" = batch start wall time, plus
// durationMs.total, i.e. after the view is updated and the checkpoint commit is written)
// minus its rename time. Batches read files oldest first (mtime, then name) and the
// files are renamed in name order, so with k files in a batch they are the next k
// renamed. The first file is a warm-up (start-up, first-batch costs) and is not counted.
// Peak RSS is VmHWM of the tributary process, read just before it is stopped (SIGTERM).
//
// usage: node feed.mjs BIN JOB SRC_DIR WORK_DIR N_FILES INTERVAL_MS [KEY=VALUE...]
//   N_FILES files after the warm-up one (fewer if SRC has fewer); INTERVAL_MS between
//   renames (0: back to back, for throughput); KEY=VALUE are passed as --set (DIR, the
//   stream directory, is set here). Prints one JSON object.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [bin, job, src, work, nArg, ivArg, ...sets] = process.argv.slice(2);
const interval = Number(ivArg);
const wallUs = () => (performance.timeOrigin + performance.now()) * 1000;
const sleepMs = (ms) => { if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

const names = fs.readdirSync(src).filter((n) => n.endsWith('.csv')).sort();
const files = names.slice(0, Math.min(names.length, Number(nArg) + 1));
const dir = path.join(work, 'in');
const progress = path.join(work, 'progress.jsonl');
// TB_BENCH_CKPT: where the checkpoint goes (e.g. /dev/shm/x to leave out fsync costs)
const ckpt = process.env.TB_BENCH_CKPT || path.join(work, 'checkpoint');
fs.rmSync(work, { recursive: true, force: true });
fs.rmSync(ckpt, { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
for (const n of files) fs.linkSync(path.join(src, n), path.join(dir, '.' + n));

const args = ['run', job, '--trigger', 'continuous', '--quiet', '--progress', progress,
  '--checkpoint', ckpt, '--set', `DIR=${dir}`, '--format', 'csv', '--every', '1 hour', '--stop-after', '30 minutes',
  '--show', 'SELECT count(*), sum(total_quantity) FROM sales_by_category'];
for (const s of sets) args.push('--set', s);
// TB_BENCH_RUN_ARGS: more options for `tributary run` (e.g. --sync-every-batch)
if (process.env.TB_BENCH_RUN_ARGS) args.push(...process.env.TB_BENCH_RUN_ARGS.split(' ').filter((x) => x));
const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (d) => { stdout += d; });
let exited = null;
child.on('exit', (code, sig) => { exited = { code, sig }; });
// never leave the job running behind us (it would also hold our caller's stderr pipe)
process.on('exit', () => { if (exited === null) child.kill('SIGKILL'); });

// "2024-01-01 00:00:00.5" (UTC) -> microseconds since the epoch
function parseTs(s) {
  const m = /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new Error(`bad timestamp '${s}'`);
  const sec = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
  return sec * 1e6 + (m[7] ? Number(m[7].padEnd(6, '0').slice(0, 6)) : 0);
}
// Progress records so far, read incrementally (a poll costs only the new lines; a line
// being written is left for the next poll).
const recs = [];
let progOff = 0, progTail = '';
function records() {
  let fd;
  try { fd = fs.openSync(progress, 'r'); } catch { return recs; }
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, progOff);
    if (n <= 0) break;
    progOff += n;
    progTail += buf.toString('utf8', 0, n);
  }
  fs.closeSync(fd);
  const cut = progTail.lastIndexOf('\n');
  if (cut >= 0) {
    for (const l of progTail.slice(0, cut).split('\n')) if (l.length > 0) recs.push(JSON.parse(l));
    progTail = progTail.slice(cut + 1);
  }
  return recs;
}
// Wait (polling every pollMs) until the batches have read `want` files; false on timeout.
let nRead = 0, seenFiles = 0;
async function waitFiles(want, timeoutMs, pollMs) {
  const t0 = Date.now();
  for (;;) {
    records();
    while (nRead < recs.length) seenFiles += recs[nRead++].numInputFiles;
    const n = seenFiles;
    if (n >= want) return true;
    if (exited !== null || Date.now() - t0 > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
function fail(msg) {
  if (exited === null) child.kill('SIGKILL');
  console.error(`feed.mjs: ${msg}`);
  process.exit(1);
}

const renameUs = [];
const feed = (i) => {
  renameUs[i] = wallUs();
  fs.renameSync(path.join(dir, '.' + files[i]), path.join(dir, files[i]));
};
feed(0); // warm-up: the job may still be starting (it then finds the file by listing)
if (!(await waitFiles(1, 60000, 5))) fail(`the job did not read the warm-up file (${JSON.stringify(exited)})`);
sleepMs(50);
const tFirst = wallUs();
for (let i = 1; i < files.length; i++) {
  if (interval > 0) {
    const due = tFirst + (i - 1) * interval * 1000; // open loop: no drift
    sleepMs((due - wallUs()) / 1000);
  }
  feed(i);
}
if (!(await waitFiles(files.length, 600000, 20))) fail(`the job did not read every file (${JSON.stringify(exited)})`);
let hwmKb = 0;
try {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  hwmKb = m ? Number(m[1]) : 0;
} catch { /* exited already */ }
child.kill('SIGTERM');
await new Promise((r) => (exited !== null ? r() : child.on('exit', r)));
if (exited.code !== 0) fail(`tributary exited with ${JSON.stringify(exited)}`);
fs.rmSync(ckpt, { recursive: true, force: true });

// the dashboard printed at the end: the view's groups and total quantity (checked
// against the DuckDB peer's table)
const view = stdout.trim().split('\n').pop().split(',').map(Number);
records();
const lat = [];
let k = 0, rows = 0, lastEnd = 0;
const phases = { execution: [], sinks: [], checkpoint: [], total: [] };
for (const r of recs) {
  const end = parseTs(r.timestamp) + r.durationMs.total * 1000;
  for (let j = 0; j < r.numInputFiles; j++, k++) if (k > 0) lat.push((end - renameUs[k]) / 1000);
  if (k > 1) {
    rows += r.numInputRows;
    lastEnd = end;
    for (const p of Object.keys(phases)) phases[p].push(r.durationMs[p]);
  }
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.max(0, Math.min(s.length - 1, Math.ceil(p * s.length) - 1))] : NaN; };
const elapsedMs = (lastEnd - renameUs[1]) / 1000;
const out = {
  files: files.length - 1, rows, batches: recs.length - 1, elapsed_ms: +elapsedMs.toFixed(1),
  rows_per_s: Math.round(rows / (elapsedMs / 1000)), files_per_s: +((files.length - 1) / (elapsedMs / 1000)).toFixed(1),
  p50_ms: +q(lat, 0.5).toFixed(3), p99_ms: +q(lat, 0.99).toFixed(3), max_ms: +q(lat, 1).toFixed(3),
  min_ms: +q(lat, 0).toFixed(3), rss_kb: hwmKb, groups: view[0], total_quantity: view[1],
  lat: lat.map((x) => +x.toFixed(3)),
  batch_ms_p50: Object.fromEntries(Object.entries(phases).map(([p, a]) => [p, +q(a, 0.5).toFixed(3)])),
};
if (lat.some((x) => x < 0)) out.warning = 'negative latency: clocks disagree';
console.log(JSON.stringify(out));
