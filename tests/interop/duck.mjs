// duck.mjs - load @duckdb/node-api from the build tree (TB_NODE_MODULES) and run SQL.
import { createRequire } from 'node:module';

const base = process.env.TB_NODE_MODULES;
if (!base) throw new Error('TB_NODE_MODULES not set');
const require = createRequire(base + '/');
const { DuckDBInstance } = require('@duckdb/node-api');

export async function connect() {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  return {
    // rows as arrays of JS values (VARCHAR columns arrive as strings)
    async rows(sql) {
      const reader = await conn.runAndReadAll(sql);
      return reader.getRows();
    },
    async run(sql) {
      await conn.run(sql);
    },
  };
}

export function sqlStr(s) {
  return "'" + String(s).replaceAll("'", "''") + "'";
}
