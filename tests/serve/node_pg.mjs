// node-postgres (npm `pg`) against `tributary serve`: simple query, parameterised query
// (extended protocol, node-pg's unnamed statements), a named prepared statement run
// twice, the types node-pg parses (int4, int8 as string, float8, bool, timestamp,
// numeric as string), an error with its SQLSTATE and position, the read-only refusal.
// Prints "ok ..." lines; exits 1 on the first mismatch.
import pg from "pg";
const port = Number(process.argv[2]);
const c = new pg.Client({ host: "127.0.0.1", port, user: "node", database: "tributary", password: process.argv[3] });
const eq = (name, a, b) => {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) { console.log(`FAIL ${name}: expected ${sb} got ${sa}`); process.exit(1); }
  console.log(`ok   ${name}`);
};
await c.connect();
let r = await c.query("SELECT sale_id, category, quantity, ok FROM sales ORDER BY sale_id");
eq("node simple rows", r.rows.map(x => [x.sale_id, x.category, x.quantity, x.ok]),
   [[1, "books", "3", true], [2, "toys", "5", false], [3, "books", "2", null]]);
eq("node field types", r.fields.map(f => f.dataTypeID), [23, 25, 20, 16]);
r = await c.query("SELECT category, sum(quantity) AS total FROM sales WHERE quantity >= $1 GROUP BY 1 ORDER BY 1", [2]);
eq("node params", r.rows, [{ category: "books", total: "5" }, { category: "toys", total: "5" }]);
for (const id of [1, 2]) {
  r = await c.query({ name: "byid", text: "SELECT category FROM sales WHERE sale_id = $1", values: [id] });
  eq(`node named prepared ${id}`, r.rows[0].category, id === 1 ? "books" : "toys");
}
r = await c.query("SELECT ts FROM sales WHERE sale_id = $1", ["2"]);
eq("node timestamp", r.rows[0].ts instanceof Date, true);
try { await c.query("SELECT qty FROM sales"); eq("node error", "no error", "error"); }
catch (e) { eq("node error sqlstate+position", [e.code, e.position], ["42703", "8"]); }
try { await c.query("DELETE FROM sales"); eq("node read-only", "no error", "error"); }
catch (e) { eq("node read-only", e.code, "25006"); }
r = await c.query("SELECT count(*) AS n FROM sales");
eq("node after errors", r.rows[0].n, "3");
await c.end();
