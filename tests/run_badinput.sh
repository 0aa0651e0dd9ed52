#!/usr/bin/env bash
# Bad input and failures (issue 6): each case of README "Bad input and failures" with
# its documented outcome. Never a crash (a signal, exit 134/139, a sanitizer report is a
# failure whatever the case), never a silent loss: rows in = rows out (+ dropped, all
# counted in progress rowsMalformed and written to bad_records_path with file and line),
# or a clear error naming the file and the place.
# Env: TB_BIN, TB_SRCDIR.
set -uo pipefail  # no -e: every case runs and is counted
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
BD=$SRC/tests/badinput
T=$(mktemp -d /tmp/tb-badinput-XXXXXX)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
expect_eq() { # name expected actual
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}

# run NAME ARGS...: runs the binary, stdout/stderr in $T/NAME.out/.err, status in $st.
# A crash signal or a sanitizer report fails the test outright.
run() {
  local name=$1
  shift
  last=$name
  st=0
  "$BIN" "$@" > "$T/$name.out" 2> "$T/$name.err" || st=$?
  if [ "$st" -ge 128 ] || grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/$name.err"; then
    bad "$name: crashed (status $st)"; head -30 "$T/$name.err"
    st=crash
  fi
}
# expect_error LABEL WORDS...: the last run exited 1 and its error output says every
# word (grep -E).
expect_error() {
  local label=$1 name=$last
  shift
  [ "$st" = crash ] && return 0
  if [ "$st" != 1 ]; then
    bad "$label: exit $st, expected 1 (an error)"; head -5 "$T/$name.err"; return 0
  fi
  for w in "$@"; do
    if ! grep -qE -- "$w" "$T/$name.err"; then
      bad "$label: the error does not say /$w/:"; head -5 "$T/$name.err"; return 0
    fi
  done
  ok "$label: $(grep -m1 -E 'error|ERROR' "$T/$name.err" | cut -c1-170)"
}
sum_progress() { # file key
  python3 -c "import json,sys; print(sum(json.loads(l)[sys.argv[2]] for l in open(sys.argv[1])))" "$1" "$2"
}
last_line() { tail -1 "$1"; }

# ---------------------------------------------------------------- CSV, permissive
# csv_case FILE RECORDS "MALFORMED LINES": the file alone in a stream directory. Every
# record is kept (bad values NULL) and counted; each malformed one is in
# bad_records-0.jsonl with its file and line.
CSVJOB=$BD/job_csv.sql
csv_run() { # name dir mode [extra args]
  local name=$1 d=$2 mode=$3
  shift 3
  run "$name" run "$CSVJOB" --set DATA="$d" --set MODE="$mode" --set IGNMISS=false \
    --set MAXLINE=67108864 --checkpoint "$d/ckpt" --trigger available-now --quiet \
    --progress "$d/progress.jsonl" --format csv --every '1 hour' \
    --show "SELECT count(*) FROM ev_rows" "$@"
}
csv_case() {
  local file=$1 records=$2 lines=$3
  local name=csv_${file%.csv} d=$T/${file%.csv}
  mkdir -p "$d/in"
  cp "$BD/csv/$file" "$d/in/"
  csv_run "$name" "$d" permissive
  [ "$st" = crash ] && return 0
  if [ "$st" != 0 ]; then bad "$name: exit $st"; head -5 "$T/$name.err"; return 0; fi
  local n_bad
  n_bad=$(echo "$lines" | wc -w)
  local out malformed inrows recs
  out=$(last_line "$T/$name.out")
  malformed=$(sum_progress "$d/progress.jsonl" rowsMalformed 2>/dev/null || echo none)
  inrows=$(sum_progress "$d/progress.jsonl" numInputRows 2>/dev/null || echo none)
  recs=$(cat "$d"/bad/bad_records-*.jsonl 2>/dev/null | python3 -c "
import json, sys
recs = [json.loads(l) for l in sys.stdin]
assert all(r['file'].endswith('/$file') and r['reason'] and 'record' in r for r in recs), recs
print(' '.join(str(r['line']) for r in recs))" 2>&1 || true)
  expect_eq "$file: $records records in, $records rows out, $n_bad malformed counted, bad records at lines [$lines]" \
    "$records $records $n_bad $lines" "$inrows $out $malformed $recs"
}
csv_case fields.csv 4 "3 4"          # too many / too few fields
csv_case numbers.csv 6 "2 3 4 5"     # abc, 12x, x3, bigint overflow (' 60 ' is fine)
csv_case timestamps.csv 5 "2 3 4 6"  # month 13, 'yesterday', Feb 30, trailing junk
csv_case quote.csv 4 "3 5"           # char after closing quote; unterminated to EOF
csv_case utf8.csv 4 "2 3 5"          # Latin-1, 0xff 0xfe, a UTF-16 surrogate
csv_case nul.csv 3 "2 3"             # NUL bytes
csv_case empty.csv 0 ""              # empty file
csv_case header_only.csv 0 ""        # header only
csv_case other_schema.csv 2 "2 3"    # a file of another table: 6 fields

# The bad records file is valid JSON lines even for invalid UTF-8 and NUL bytes, and
# keeps the raw record.
rec=$(python3 -c "import json; print(json.loads(open('$T/nul/bad/bad_records-0.jsonl').readline())['record'] == '1,a\x00b,1,2024-01-01 00:00:00')")
expect_eq "bad records keep the raw record (NUL escaped)" True "$rec"

# Two queries over one stream: one bad-records file per query and batch.
d=$T/twoq; mkdir -p "$d/in"; cp "$BD/csv/fields.csv" "$d/in/"
{ cat "$CSVJOB"; echo "CREATE MATERIALIZED VIEW ev_n AS SELECT count(*) AS n FROM ev;"; } > "$d/job.sql"
run twoq run "$d/job.sql" --set DATA="$d" --set MODE=permissive --set IGNMISS=false \
  --set MAXLINE=67108864 --checkpoint "$d/ckpt" --trigger available-now --quiet
expect_eq "two queries over one stream: bad records per query" \
  "0 bad_records-ev_n-0.jsonl:2 bad_records-ev_rows-0.jsonl:2" \
  "$st $(cd "$d/bad" && for f in *; do printf '%s:%s ' "$f" "$(wc -l < "$f")"; done | sed 's/ $//')"

# dropmalformed: rows out + malformed = rows in; failfast: an error naming file:line.
d=$T/drop; mkdir -p "$d/in"; cp "$BD/csv/numbers.csv" "$d/in/"
csv_run drop "$d" dropmalformed
if [ "$st" = 0 ]; then
  expect_eq "dropmalformed: 2 rows out + 4 dropped and counted = 6 records" "2 4" \
    "$(last_line "$T/drop.out") $(sum_progress "$d/progress.jsonl" rowsMalformed)"
else bad "dropmalformed: exit $st"; fi
d=$T/failfast; mkdir -p "$d/in"; cp "$BD/csv/fields.csv" "$d/in/"
csv_run failfast "$d" failfast
expect_error "failfast: the query stops" "fields.csv:3" "expected 4 fields, found 5"
[ ! -e "$d/ckpt/ev_rows/commits/0" ] && ok "failfast: the batch is not committed" \
  || bad "failfast: batch 0 committed"

# ---------------------------------------------------------------- a 100 MB line
d=$T/bigline; mkdir -p "$d/in"
{ printf 'id,name,amount,ts\n1,a,1,2024-01-01 00:00:00\n2,'
  head -c 100000000 /dev/zero | tr '\0' x
  printf ',2,2024-01-01 00:00:01\n3,c,3,2024-01-01 00:00:02\n'; } > "$d/in/big.csv"
csv_run bigline "$d" permissive
expect_error "a 100 MB line (limit 64 MiB)" "big.csv:3" "max_line_bytes"
rm -f "$d/in/big.csv"

# ---------------------------------------------------------------- file deleted before read
# Discovery recorded the file in offsets/1, then it vanished before the batch read it
# (written here by hand: the race itself is a matter of microseconds).
d=$T/deleted; mkdir -p "$d/in"; cp "$BD/csv/fields.csv" "$d/in/a.csv"
csv_run deleted0 "$d" permissive
python3 - "$d/ckpt/ev_rows/offsets/1" <<'EOF'
import json, sys, zlib
doc = json.dumps({"batch": 1, "watermark_us": -2**63, "files": ["gone.csv"]},
                 separators=(",", ":")) + "\n"
open(sys.argv[1], "w").write(doc + "crc32 %08x\n" % zlib.crc32(doc.encode()))
EOF
csv_run deleted "$d" permissive
expect_error "file deleted between discovery and read" "gone.csv" "deleted after it was discovered" "ignore_missing_files"
cp "$BD/csv/numbers.csv" "$d/in/b.csv"
run deleted2 run "$CSVJOB" --set DATA="$d" --set MODE=permissive --set IGNMISS=true \
  --set MAXLINE=67108864 --checkpoint "$d/ckpt" --trigger available-now --quiet \
  --format csv --every '1 hour' --show "SELECT count(*) FROM ev_rows"
if [ "$st" = 0 ] && grep -q "gone.csv' vanished" "$T/deleted2.err"; then
  expect_eq "ignore_missing_files: skipped with a warning; the view keeps 4 + 6 rows" 10 \
    "$(last_line "$T/deleted2.out")"
else bad "ignore_missing_files: exit $st"; head -5 "$T/deleted2.err"; fi

# ---------------------------------------------------------------- no stream directory
mkdir -p "$T/nodir"
csv_run nodir "$T/nodir" permissive
expect_error "stream directory missing" "nodir/in" "not a readable directory"

# ---------------------------------------------------------------- Parquet
PQJOB=$BD/job_parquet.sql
"$BIN" generate products --out "$T/products.parquet" --products 30
PSIZE=$(stat -c %s "$T/products.parquet")
pq_case() { # name file-maker words...
  local name=$1 maker=$2
  shift 2
  local d=$T/pq_$name
  mkdir -p "$d/in"
  $maker "$d/in/$name.parquet"
  run "pq_$name" run "$PQJOB" --set DATA="$d" --checkpoint "$d/ckpt" \
    --trigger available-now --quiet --format csv --every '1 hour' \
    --show "SELECT * FROM pq_rows ORDER BY product_id"
  if [ $# = 0 ]; then
    if [ "$st" = 0 ]; then
      expect_eq "parquet $name: read by column name" "1,books 2,toys 3,garden" \
        "$(grep -E '^[0-9]' "$T/pq_$name.out" | tr '\n' ' ' | sed 's/ $//')"
    else bad "parquet $name: exit $st"; head -5 "$T/pq_$name.err"; fi
  else
    expect_error "parquet $name" "$name.parquet" "$@"
  fi
}
mk_trunc() { head -c $((PSIZE / 2)) "$T/products.parquet" > "$1"; }
mk_magic() { cp "$T/products.parquet" "$1"; printf 'XXXX' | dd of="$1" bs=1 seek=$((PSIZE - 4)) conv=notrunc 2> /dev/null; }
mk_pages() { cp "$T/products.parquet" "$1"; head -c 40 /dev/zero | tr '\0' '\377' | dd of="$1" bs=1 seek=4 conv=notrunc 2> /dev/null; }
mk_py() { python3 "$BD/mkparquet.py" "$(basename "$1" .parquet)" "$1"; }
pq_case truncated mk_trunc "not a Parquet file|truncated"
pq_case magic mk_magic "not a Parquet file"
pq_case pages mk_pages "page header"
pq_case bomb mk_py "exceeds the 1073741824-byte limit"
pq_case liar mk_py "decompresses to more than the page size"
pq_case short mk_py "page header says"
pq_case other mk_py "has no column \"product_id\""
pq_case wrongtype mk_py "column \"product_id\" is bigint in the file, the stream declares integer"
pq_case swapped mk_py
pq_case good mk_py

# ---------------------------------------------------------------- sinks
SINKJOB=$BD/job_sink.sql
d=$T/sink; mkdir -p "$d"
"$BIN" generate sales --out "$d/sales" --rows 30000 --files 3 --seed 5 > /dev/null
: > "$d/blocker"
run sink_unwritable run "$SINKJOB" --set DATA="$d" --set OUT="$d/blocker/out" \
  --checkpoint "$d/ckpt_u" --trigger available-now --quiet
expect_error "Delta sink: unwritable output directory" "blocker" "not a directory"
# A Delta table already at the path with another schema.
mkdir -p "$d/other/_delta_log"
cat > "$d/other/_delta_log/00000000000000000000.json" <<'EOF'
{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}
{"metaData":{"id":"0b0e3f38-7d1e-4a52-9a38-2f7bb1d6a001","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":0}}
EOF
run sink_schema run "$SINKJOB" --set DATA="$d" --set OUT="$d/other" \
  --checkpoint "$d/ckpt_s" --trigger available-now --quiet
expect_error "Delta sink: the table exists with another schema" "other" "schema"
# A full disk: RLIMIT_FSIZE (SIGXFSZ ignored so write(2) fails with EFBIG).
( trap '' XFSZ; ulimit -f 200
  run full run "$SINKJOB" --set DATA="$d" --set OUT="$d/out" --checkpoint "$d/ckpt" \
    --trigger available-now --quiet; [ "$st" = crash ] && exit 99; exit "$st" ) && st=0 || st=$?
last=full
[ "$st" = 99 ] && { bad "full disk: crashed"; st=crash; }
expect_error "Delta sink: disk full" "File too large" "delta"
[ ! -e "$d/ckpt/insert_into_out_raw/commits/0" ] && ok "disk full: batch 0 not committed" \
  || bad "disk full: batch 0 committed"
left=$(find "$d/out" -name '*.parquet*' | wc -l)
expect_eq "disk full: no partial data file left behind" 0 "$left"
run sink_retry run "$SINKJOB" --set DATA="$d" --set OUT="$d/out" --checkpoint "$d/ckpt" \
  --trigger available-now --quiet
if [ "$st" = 0 ]; then
  run sink_count query --format csv "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
    FROM read_delta('$d/out')"
  run sink_expect query --format csv "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
    FROM read_csv('$d/sales')"
  expect_eq "disk full, then space again: every row once in Delta" \
    "$(last_line "$T/sink_expect.out")" "$(last_line "$T/sink_count.out")"
else bad "restart after disk full: exit $st"; head -5 "$T/sink_retry.err"; fi

# Other unwritable places: the checkpoint directory, a files sink, bad_records_path.
run ckpt_unwritable run "$SINKJOB" --set DATA="$d" --set OUT="$d/out_u2" \
  --checkpoint "$d/blocker/ckpt" --trigger available-now --quiet
expect_error "checkpoint directory cannot be created" "checkpoint" "blocker" "not a directory"
FSJOB=$BD/job_files_sink.sql
run files_unwritable run "$FSJOB" --set DATA="$d" --set OUT="$d/blocker/fout" \
  --checkpoint "$d/ckpt_fu" --trigger available-now --quiet
expect_error "files sink: unwritable output directory" "blocker" "not a directory"
mkdir -p "$d/badrec/in"; cp "$BD/csv/fields.csv" "$d/badrec/in/"; : > "$d/badrec/bad"
run badrec_unwritable run "$CSVJOB" --set DATA="$d/badrec" --set MODE=permissive \
  --set IGNMISS=false --set MAXLINE=67108864 --checkpoint "$d/badrec/ckpt" \
  --trigger available-now --quiet
expect_error "bad_records_path cannot be created" "bad_records_path" "badrec/bad" "not a directory"
# A full disk under a files sink: the batch fails before its commit, the partial part
# file is removed, and a restart writes every row once.
( trap '' XFSZ; ulimit -f 200
  run files_full run "$FSJOB" --set DATA="$d" --set OUT="$d/fout" --checkpoint "$d/ckpt_ff" \
    --trigger available-now --quiet; [ "$st" = crash ] && exit 99; exit "$st" ) && st=0 || st=$?
last=files_full
[ "$st" = 99 ] && { bad "files sink full disk: crashed"; st=crash; }
expect_error "files sink: disk full" "File too large" "out_files"
[ ! -e "$d/ckpt_ff/insert_into_out_files/commits/0" ] && [ -z "$(ls -A "$d/fout")" ] \
  && ok "files sink disk full: batch 0 not committed, no partial file left" \
  || bad "files sink disk full: $(ls -A "$d/fout" "$d/ckpt_ff/insert_into_out_files/commits" | tr '\n' ' ')"
run files_retry run "$FSJOB" --set DATA="$d" --set OUT="$d/fout" --checkpoint "$d/ckpt_ff" \
  --trigger available-now --quiet
if [ "$st" = 0 ]; then
  run files_count query --format csv "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
    FROM read_csv('$d/fout')"
  run files_expect query --format csv "SELECT count(*), count(DISTINCT sale_id), sum(quantity)
    FROM read_csv('$d/sales')"
  expect_eq "files sink: disk full, then space again: every row once" \
    "$(last_line "$T/files_expect.out")" "$(last_line "$T/files_count.out")"
else bad "files sink restart after disk full: exit $st"; head -5 "$T/files_retry.err"; fi

# ---------------------------------------------------------------- damaged checkpoint
f=$d/ckpt/insert_into_out_raw/state/0
python3 -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 1; open(p, 'wb').write(bytes(b))" "$f"
run ckpt_flip run "$SINKJOB" --set DATA="$d" --set OUT="$d/out" --checkpoint "$d/ckpt" \
  --trigger available-now --quiet
expect_error "damaged checkpoint state" "$f" "damaged"

# ---------------------------------------------------------------- --memory-limit
MEMJOB=$BD/job_memory.sql
d=$T/mem; mkdir -p "$d"
"$BIN" generate sales --out "$d/sales" --rows 20000 --files 4 --seed 9 > /dev/null
mem_run() { # name limit [args]
  local name=$1 limit=$2
  shift 2
  run "$name" run "$MEMJOB" --set DATA="$d" --checkpoint "$d/ckpt" --trigger available-now \
    --quiet --memory-limit "$limit" --progress "$d/p.jsonl" --format csv --every '1 hour' \
    --show "SELECT count(*), sum(quantity) FROM per_sale" "$@"
}
mem_run mem1 1k
expect_error "memory limit: first batch over 1 KiB" \
  "memory limit of 1024 bytes exceeded by query per_sale \(state [0-9]+ bytes\)" \
  "uncommitted batch 0"
z0=$(grep -oE 'state [0-9]+ bytes' "$T/mem1.err" | grep -oE '[0-9]+' || echo 0)
[ ! -e "$d/ckpt/per_sale/commits/0" ] && [ -e "$d/ckpt/per_sale/offsets/0" ] \
  && ok "memory limit: offsets/0 kept, batch 0 not committed" \
  || bad "memory limit: checkpoint not as expected"
# 1.5x the first batch's state: batch 0 commits, batch 1 goes over.
mem_run mem2 $((z0 * 3 / 2))
expect_error "memory limit: stops at batch 1" "uncommitted batch 1"
[ -e "$d/ckpt/per_sale/commits/0" ] && [ ! -e "$d/ckpt/per_sale/commits/1" ] \
  && ok "memory limit: batch 0 committed, batch 1 not" || bad "memory limit: commits wrong"
mem_run mem3 64MB
run mem_expect query --format csv "SELECT count(DISTINCT sale_id), sum(quantity) FROM read_csv('$d/sales')"
if [ "$st" = 0 ]; then
  expect_eq "memory limit raised: resumes, every row once" \
    "$(last_line "$T/mem_expect.out")" "$(last_line "$T/mem3.out")"
else bad "memory limit raised: exit $st"; fi
mem_run mem4 1k
expect_error "memory limit below the restored state" "restoring committed batch 3"
run mem_usage run "$MEMJOB" --memory-limit lots
expect_eq "--memory-limit lots: usage error (exit 2)" 2 "$st"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
