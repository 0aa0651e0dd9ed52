// query_csv.mjs SQL: run SQL in DuckDB (TB_NODE_MODULES) and print the rows as CSV
// without a header, values rendered as Tributary's CSV output renders them (timestamps
// 'YYYY-MM-DD HH:MM:SS', NULL empty), so that sorted outputs can be compared with diff.
import { connect } from './duck.mjs';

const db = await connect();
const rows = await db.rows(process.argv[2]);
const cell = (v) => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
};
process.stdout.write(rows.map((r) => r.map(cell).join(',')).join('\n') + (rows.length ? '\n' : ''));
