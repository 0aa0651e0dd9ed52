#!/usr/bin/env bash
# make fuzz: run libFuzzer targets for SECONDS each (default 60), one after the other.
#   fuzz/run.sh BUILD_DIR [SECONDS [TARGET...]]     (TARGET: fuzz_sql or sql; default all)
# Corpus: new inputs go to fuzz/findings/<target> (not committed), read together with the
# committed corpus fuzz/corpus/<target> and seeds made by fuzz/seeds.py from tests/ and
# the shared test data ($TB_TESTDATA, default ../shared/testdata) in fuzz/findings/seeds.
# Dictionaries: fuzz/<target>.dict (fuzz/sql.dict), fuzz/json.dict for the JSON targets.
# A crash, leak, timeout (FUZZ_TIMEOUT seconds per input, default 30) or out-of-memory
# leaves its input in fuzz/findings/<target>/ (crash-*, leak-*, timeout-*, oom-*); once
# fixed, copy it into fuzz/corpus/<target>/ so `make test` replays it. The run goes on
# with the next target; the exit status is 1 if any target failed.
# Prints per target: runs, coverage (cov: edges, ft: features), corpus size, peak RSS.
set -uo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
SECS=${2:-60}
shift $(($# >= 2 ? 2 : $#))
cd "$(dirname "$0")/.."
ROOT=$PWD
TD=${TB_TESTDATA:-$ROOT/../shared/testdata}
[ -d "$TD" ] || TD=/work/shared/testdata
SEEDS=$ROOT/fuzz/findings/seeds
if [ ! -d "$SEEDS" ] && command -v python3 > /dev/null; then
  if [ -d "$TD" ]; then python3 fuzz/seeds.py "$SEEDS" "$TD"
  else echo "fuzz: no shared test data at $TD: seeding from tests/ only"; python3 fuzz/seeds.py "$SEEDS" /nonexistent; fi
fi
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
  for bin in "$BUILD"/fuzz_*; do targets+=("$(basename "$bin")"); done
fi
failed=0
for t in "${targets[@]}"; do
  name=fuzz_${t#fuzz_}; short=${name#fuzz_}; bin=$BUILD/$name
  [ -x "$bin" ] || { echo "fuzz: no target $bin"; failed=1; continue; }
  corpus=$ROOT/fuzz/corpus/$short
  out=$ROOT/fuzz/findings/$short
  mkdir -p "$out" "$corpus"
  dirs=("$out" "$corpus")
  [ -d "$SEEDS/$short" ] && dirs+=("$SEEDS/$short")
  [ "$short" = parquet ] && [ -d "$TD/parquet-testing" ] && dirs+=("$TD/parquet-testing")
  dict=()
  case $short in
    delta_log | checkpoint | jsonl | kafka) d=fuzz/json.dict ;;
    *) d=fuzz/$short.dict ;;
  esac
  [ -f "$d" ] && dict=(-dict="$ROOT/$d")
  # fuzz_csv and fuzz_jsonl read each input in 1-7 byte chunks four times: short inputs
  # keep them fast (long records are covered by their 64-byte line limit variants)
  maxlen=65536
  [ "$short" = csv ] || [ "$short" = jsonl ] && maxlen=8192
  echo "== $name for ${SECS}s"
  log=$out/run.log
  "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -timeout="${FUZZ_TIMEOUT:-30}" -max_len="$maxlen" -print_final_stats=1 \
    -artifact_prefix="$out/" "${dict[@]}" "${dirs[@]}" > "$log" 2>&1
  st=$?
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" | tail -2
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" | tr '\n' ' '; echo
  echo "corpus: $(ls "$out" | grep -vcE '^(crash|leak|timeout|oom|slow-unit)-|\.log$') new inputs in fuzz/findings/$short, $(ls "$corpus" | wc -l) committed"
  if [ "$st" != 0 ]; then
    failed=1
    echo "FAILED (status $st): $(grep -m1 -E 'ERROR|SUMMARY' "$log")"
    grep -E "^artifact_prefix|Test unit written" "$log" | tail -1
  fi
done
exit $failed
