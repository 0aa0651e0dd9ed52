// Consistent reads while batches run (issue 11 point 3): N node-postgres clients (64)
// query the running job's view over and over until told to stop (a file named STOP).
// Every file the feeder drops has 100 rows of quantity 1, so at every committed batch
// sum(total_quantity) = sum(n) and sum(n) is a multiple of 100: an answer breaking
// either saw half a batch. Prints one JSON line: answers, distinct states seen (how
// many batches the queries spanned), violations, p50/p99/max latency in ms.
import pg from "pg";
import fs from "node:fs";
const [port, nClients, stopFile] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const clients = [];
for (let i = 0; i < nClients; i++) {
  const c = new pg.Client({ host: "127.0.0.1", port, user: "c" + i, database: "tributary" });
  await c.connect();
  clients.push(c);
}
let answers = 0, violations = 0;
const seen = new Set(), lat = [];
const sql = "SELECT coalesce(sum(total_quantity), 0) AS q, coalesce(sum(n), 0) AS n FROM totals";
await Promise.all(clients.map(async (c, i) => {
  while (!fs.existsSync(stopFile)) {
    const t0 = process.hrtime.bigint();
    const r = await c.query(i % 2 ? { text: sql, values: [] } : sql);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const q = Number(r.rows[0].q), n = Number(r.rows[0].n);
    answers++;
    seen.add(n);
    if (q !== n || n % 100 !== 0) violations++;
  }
}));
await Promise.all(clients.map(c => c.end()));
lat.sort((a, b) => a - b);
const pct = p => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1) : 0;
console.log(JSON.stringify({ clients: nClients, answers, states: seen.size, violations,
  p50: pct(0.5), p99: pct(0.99), max: lat.length ? lat[lat.length - 1].toFixed(1) : 0 }));
