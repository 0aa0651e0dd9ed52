// gen_parquet_expect.mjs - produce the expected values of the parquet-testing files with
// DuckDB, once, for tests/unit/test_parquet.c (the CSVs are committed under
// tests/data/parquet_expect/; this script is only re-run when files are added).
//
// Usage (DuckDB's node client, from npm):
//   mkdir -p /tmp/duck && cd /tmp/duck && npm init -y && npm i @duckdb/node-api
//   DUCK_DIR=/tmp/duck node tests/gen_parquet_expect.mjs \
//       $TB_TESTDATA/parquet-testing tests/data/parquet_expect [fuzz/corpus/parquet]
//
// With the third argument it also (re)writes small DuckDB-made files covering every
// type DuckDB writes (ints signed/unsigned of every width, decimals, date, timestamps
// in ms/us/ns and with time zone, time, uuid, blob, text, floats) under six codec and
// page-version settings into that directory (they seed the fuzz corpus too), and their
// expectations as corpus__parquet__<name>.csv.
//
// For every *.parquet (top level and geospatial/) without an upstream *_expect.csv, it
// writes <relative path with '/' as '__'>.csv holding the file's FLAT top-level columns
// (non-repeated primitives; the reader refuses nested ones), rendered the way
// tb_value_format renders values:
//   NULL -> empty unquoted field; empty string -> ""; booleans true/false; integers and
//   decimals as DuckDB's VARCHAR cast (decimals keep their scale); doubles shortest
//   round-trip ("NaN", "Infinity", "-0"); floats shortest float32 round-trip;
//   timestamps 'YYYY-MM-DD HH:MM:SS[.ffffff]' (fraction trimmed, ' BC' for year <= 0);
//   INT96 and TIMESTAMP(NANOS) floored to microseconds; TIME as bigint microseconds.
// Text is escaped (the test applies the same function to what our reader returns):
//   '\' -> '\\', bytes < 0x20 and 0x7f -> \xNN, and when the value is not valid UTF-8
//   every byte >= 0x80 -> \xNN. Fields are CSV-quoted when needed (RFC 4180).
// Overrides: int96_from_spark.parquet's last value overflows DuckDB's nanosecond INT96
// conversion; its expectation comes from int96_from_spark.md (microseconds listed there).
// DuckDB lacks Hadoop LZ4 and BYTE_STREAM_SPLIT for non-float types: see `sameAs` and
// `aliases` below.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// ESM ignores NODE_PATH: resolve the package from DUCK_DIR (where it was npm-installed).
const duckDir = process.env.DUCK_DIR ?? '/tmp/duck';
const { DuckDBInstance } = await import(
  pathToFileURL(createRequire(path.join(duckDir, 'x.js')).resolve('@duckdb/node-api')).href);

const [srcDir, outDir, corpusDir] = process.argv.slice(2);
if (!srcDir || !outDir) {
  console.error('usage: gen_parquet_expect.mjs <parquet-testing dir> <out dir>');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
await con.run('SET enable_geoparquet_conversion = false'); // geometry as stored WKB

// DuckDB's blob text ('\xNN' escapes) back to bytes.
function unblob(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x') {
      out.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      out.push(s.charCodeAt(i));
    }
  }
  return Buffer.from(out);
}

async function rows(sql) {
  const r = await con.runAndReadAll(sql);
  return r.getRows();
}

function sqlStr(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}
function ident(s) {
  return '"' + s.replaceAll('"', '""') + '"';
}

// ------------------------------------------------------------------ rendering

function civilFromDays(z) {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
                          Math.floor(doe / 146096)) / 365);
  let y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y += 1;
  return [y, m, d];
}

const pad = (n, w) => String(n).padStart(w, '0');

function fmtDate(days) {
  let [y, m, d] = civilFromDays(days);
  let bc = false;
  if (y <= 0) {
    bc = true;
    y = 1 - y;
  }
  return [`${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`, bc];
}

function fmtTimestamp(us) { // BigInt microseconds
  const D = 86400000000n;
  let days = us / D, rem = us % D;
  if (rem < 0n) {
    rem += D;
    days -= 1n;
  }
  const [date, bc] = fmtDate(Number(days));
  const secs = Number(rem / 1000000n);
  let frac = Number(rem % 1000000n);
  let s = `${date} ${pad(Math.floor(secs / 3600), 2)}:${pad(Math.floor(secs / 60) % 60, 2)}:` +
          pad(secs % 60, 2);
  if (frac !== 0) s += '.' + pad(frac, 6).replace(/0+$/, '');
  return bc ? s + ' BC' : s;
}

function fmtDouble(x) {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

function fmtFloat(x) {
  if (!Number.isFinite(x) || Object.is(x, -0) || x === 0) return fmtDouble(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
function escapeBytes(buf) {
  let valid = true;
  try {
    utf8.decode(buf);
  } catch {
    valid = false;
  }
  const out = [];
  for (const b of buf) {
    if (b === 0x5c) out.push(0x5c, 0x5c);
    else if (b < 0x20 || b === 0x7f || (!valid && b >= 0x80))
      for (const ch of '\\x' + b.toString(16).padStart(2, '0')) out.push(ch.charCodeAt(0));
    else out.push(b);
  }
  return Buffer.from(out);
}

function csvField(buf) { // Buffer (already escaped) -> Buffer
  const s = buf.toString('latin1');
  if (buf.length === 0 || /[",\r\n]/.test(s) || s[0] === ' ' || s[s.length - 1] === ' ')
    return Buffer.concat([Buffer.from('"'), Buffer.from(s.replaceAll('"', '""'), 'latin1'),
                          Buffer.from('"')]);
  return buf;
}

// ------------------------------------------------------------------ schema

// Top-level flat columns, from parquet_schema() (depth-first with num_children).
async function flatColumns(file) {
  const rs = await rows(`SELECT name, type, repetition_type, num_children
                         FROM parquet_schema(${sqlStr(file)})`);
  const elems = rs.map(r => ({ name: r[0], type: r[1], rep: r[2],
                               nch: r[3] === null ? 0 : Number(r[3]) }));
  const flat = [];
  let idx = 1;
  function skip() { // skip the subtree at idx
    const e = elems[idx++];
    for (let i = 0; i < e.nch; i++) skip();
  }
  for (let c = 0; c < elems[0].nch; c++) {
    const e = elems[idx];
    if (e.nch === 0 && e.type !== null && e.rep !== 'REPEATED') flat.push(e.name);
    skip();
  }
  return flat;
}

// ------------------------------------------------------------------ one file

async function gen(file, outName, aliases = {}) {
  const flat = await flatColumns(file);
  const desc = await rows(`DESCRIBE SELECT * FROM read_parquet(${sqlStr(file)})`);
  const types = new Map(desc.map(r => [r[0], String(r[1])]));
  const kinds = [];
  const exprs = flat.map(name => {
    const t = types.get(name) ?? 'VARCHAR';
    const id = ident(aliases[name] ?? name);
    if (t === 'TIMESTAMP_NS') {
      kinds.push('ns');
      return `epoch_ns(${id})`;
    }
    if (t.startsWith('TIMESTAMP')) {
      kinds.push('us');
      return `epoch_us(${id})`;
    }
    if (t === 'TIME' || t.startsWith('TIME ')) {
      kinds.push('int');
      return `CAST(datediff('microsecond', TIME '00:00:00', CAST(${id} AS TIME)) AS VARCHAR)`;
    }
    if (t === 'DOUBLE') {
      kinds.push('double');
      return id;
    }
    if (t === 'FLOAT') {
      kinds.push('float');
      return id;
    }
    if (t.startsWith('GEOMETRY') || t.startsWith('GEOGRAPHY')) {
      kinds.push('geom'); /* WKB, as stored (enable_geoparquet_conversion=false) */
      return id;
    }
    if (t === 'BLOB') {
      kinds.push('bytes');
      return id;
    }
    if (t === 'VARCHAR') {
      kinds.push('varchar');
      return id;
    }
    kinds.push('text');
    return `CAST(${id} AS VARCHAR)`;
  });
  const lines = [Buffer.from(flat.map(n => csvField(escapeBytes(Buffer.from(n))).toString('latin1'))
                                 .join(','), 'latin1')];
  if (flat.length > 0) {
    const data = await rows(`SELECT ${exprs.join(', ')} FROM read_parquet(${sqlStr(file)})`);
    for (const r of data) {
      const fields = r.map((v, i) => {
        if (v === null || v === undefined) return Buffer.alloc(0);
        switch (kinds[i]) {
        case 'us': return csvField(Buffer.from(fmtTimestamp(BigInt(v))));
        case 'ns': {
          const ns = BigInt(v);
          let us = ns / 1000n;
          if (ns % 1000n < 0n) us -= 1n;
          return csvField(Buffer.from(fmtTimestamp(us)));
        }
        case 'double': return csvField(Buffer.from(fmtDouble(Number(v))));
        case 'float': return csvField(Buffer.from(fmtFloat(Number(v))));
        case 'bytes': return csvField(escapeBytes(Buffer.from(v.bytes)));
        case 'geom': return csvField(escapeBytes(v.bytes !== undefined ? Buffer.from(v.bytes)
                                                                       : unblob(String(v))));
        case 'varchar': return csvField(escapeBytes(Buffer.from(String(v), 'utf8')));
        default: return csvField(escapeBytes(Buffer.from(String(v))));
        }
      });
      lines.push(Buffer.concat(fields.flatMap((f, i) => (i ? [Buffer.from(','), f] : [f]))));
    }
  } else {
    const n = await rows(`SELECT count(*) FROM read_parquet(${sqlStr(file)})`);
    for (let i = 0n; i < BigInt(n[0][0]); i++) lines.push(Buffer.alloc(0));
  }
  fs.writeFileSync(path.join(outDir, outName),
                   Buffer.concat(lines.flatMap(l => [l, Buffer.from('\n')])));
  return lines.length - 1;
}


// ------------------------------------------------------------------ corpus files

async function makeCorpus(dir) {
  fs.mkdirSync(dir, { recursive: true });
  await con.run(`CREATE OR REPLACE TABLE t AS SELECT
    i::INTEGER AS id,
    CASE WHEN i % 7 = 3 THEN NULL ELSE (i % 2 = 0) END AS b,
    (i % 200 - 100)::TINYINT AS i8, (i * 37 % 60000 - 30000)::SMALLINT AS i16,
    (i * 7919)::INTEGER AS i32, (i::BIGINT * 1000000007 - 5000000000) AS i64,
    (i % 256)::UTINYINT AS u8, (i * 13 % 65536)::USMALLINT AS u16,
    (i::BIGINT * 1234567)::UINTEGER AS u32,
    (CASE WHEN i % 3 = 0 THEN 18446744073709551615::UBIGINT - i::UBIGINT
          ELSE i::UBIGINT END)::UBIGINT AS u64,
    (i / 7.0)::FLOAT AS f32, CASE WHEN i % 11 = 0 THEN NULL ELSE i / 3.0 END AS f64,
    (i * 1.25)::DECIMAL(9,2) AS d9, (i * 100003.125)::DECIMAL(18,3) AS d18,
    (i::HUGEINT * 99999999999999999)::DECIMAL(38,0) AS d38,
    DATE '1969-12-25' + i::INTEGER AS dt,
    TIMESTAMP '1970-01-01 00:00:00' + to_microseconds(i * 3661000001) AS ts,
    (TIMESTAMPTZ '2020-02-29 23:59:59+00' + to_minutes(i * 17))::TIMESTAMPTZ AS tstz,
    (TIMESTAMP '1950-06-01 12:00:00' + to_seconds(i * 3))::TIMESTAMP_MS AS tsms,
    (TIMESTAMP '2262-01-01 00:00:00' - to_microseconds(i * 123456789))::TIMESTAMP_NS AS tsns,
    TIME '00:00:00' + to_microseconds(i * 1000250) AS tm,
    CASE WHEN i % 5 = 0 THEN NULL ELSE 'str ' || i || repeat('x', i % 13) END AS s,
    ('0a0b0c0d-0000-4000-8000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS u,
    ('\\x' || lpad(printf('%x', i), 4, '0'))::BLOB AS bl,
    CASE i % 4 WHEN 0 THEN 'red' WHEN 1 THEN 'green' WHEN 2 THEN 'blue' ELSE NULL END AS cat
  FROM range(0, 100) r(i)`);
  const cfgs = [
    ['types_snappy_v1.parquet', 'COMPRESSION snappy, ROW_GROUP_SIZE 60'],
    ['types_zstd_v2.parquet', 'COMPRESSION zstd, PARQUET_VERSION V2, ROW_GROUP_SIZE 64'],
    ['types_gzip_v2.parquet', 'COMPRESSION gzip, PARQUET_VERSION V2'],
    ['types_brotli.parquet', 'COMPRESSION brotli, ROW_GROUP_SIZE 40'],
    ['types_lz4raw_v2.parquet', 'COMPRESSION lz4_raw, PARQUET_VERSION V2, ROW_GROUP_SIZE 100'],
    ['types_plain.parquet', 'COMPRESSION uncompressed, DICTIONARY_COMPRESSION_RATIO_THRESHOLD 0'],
  ];
  for (const [name, opts] of cfgs)
    await con.run(`COPY t TO ${sqlStr(path.join(dir, name))} (FORMAT parquet, ${opts})`);
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.parquet')) continue;
    const n = await gen(path.join(dir, f), `corpus__parquet__${f}.csv`);
    console.log(`corpus ${f}: ${n} rows`);
  }
}

// ------------------------------------------------------------------ overrides

function int96FromSpark(outName) {
  // int96_from_spark.md: "As microseconds since the epoch, they correspond to: ..."
  const vals = [1704141296123456n, 1704070800000000n, 253402225200000000n, 1735599600000000n,
                null, 9089380393200000000n];
  const lines = ['a', ...vals.map(v => (v === null ? '' : fmtTimestamp(v)))];
  fs.writeFileSync(path.join(outDir, outName), lines.join('\n') + '\n');
}

// ------------------------------------------------------------------ main

// DuckDB has no (Hadoop) LZ4 codec: these files hold the same data as their LZ4_RAW twins
// (names and values; parquet-testing wrote them from one source); test_parquet.c compares
// them with the twin's CSV (same table there).
const sameAs = {
  'hadoop_lz4_compressed.parquet': 'lz4_raw_compressed.parquet.csv',
  'non_hadoop_lz4_compressed.parquet': 'lz4_raw_compressed.parquet.csv',
  'hadoop_lz4_compressed_larger.parquet': 'lz4_raw_compressed_larger.parquet.csv',
};

const files = [];
for (const sub of ['', 'geospatial']) {
  const dir = path.join(srcDir, sub);
  if (!fs.existsSync(dir)) continue;
  for (const f of fs.readdirSync(dir).sort())
    if (f.endsWith('.parquet')) files.push(sub ? `${sub}/${f}` : f);
}
for (const rel of files) {
  const upstream = path.join(srcDir, rel.replace(/\.parquet$/, '_expect.csv'));
  if (fs.existsSync(upstream)) {
    console.log(`${rel}: upstream expectation, skipped`);
    continue;
  }
  const outName = rel.replaceAll('/', '__') + '.csv';
  if (rel === 'int96_from_spark.parquet') {
    int96FromSpark(outName);
    console.log(`${rel}: from int96_from_spark.md`);
    continue;
  }
  if (sameAs[rel] !== undefined) {
    console.log(`${rel}: same values as ${sameAs[rel]} (test_parquet.c maps it)`);
    continue;
  }
  let aliases = {};
  if (rel === 'byte_stream_split_extended.gzip.parquet') {
    // DuckDB decodes BYTE_STREAM_SPLIT for FLOAT/DOUBLE only; the README says every
    // X_byte_stream_split column holds the same values as X_plain.
    for (const x of ['float16', 'float', 'double', 'int32', 'int64', 'flba5', 'decimal'])
      aliases[`${x}_byte_stream_split`] = `${x}_plain`;
  }
  try {
    const n = await gen(path.join(srcDir, rel), outName, aliases);
    console.log(`${rel}: ${n} rows`);
  } catch (e) {
    console.log(`${rel}: DuckDB error: ${String(e.message).split('\n')[0]}`);
  }
}
if (corpusDir) await makeCorpus(corpusDir);
