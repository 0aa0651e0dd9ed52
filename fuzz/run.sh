#!/usr/bin/env bash
# make fuzz: run every libFuzzer target for FUZZ_SECONDS (default 60) each, seeded from
# fuzz/corpus/<target> (and ../shared/testdata where it fits); new corpus entries are
# kept in fuzz/findings/<target>, crashes there too (copy a crash into the corpus as a
# regression input once fixed).
set -euo pipefail
BUILD=${1:?build dir}
SECS=${2:-60}
cd "$(dirname "$0")/.."
TD=${TB_TESTDATA:-../shared/testdata}
for bin in "$BUILD"/fuzz_*; do
  name=$(basename "$bin"); corpus=fuzz/corpus/${name#fuzz_}
  out=fuzz/findings/${name#fuzz_}; mkdir -p "$out" "$corpus"
  extra=()
  case $name in
    fuzz_parquet) [ -d "$TD/parquet-testing" ] && extra+=("$TD/parquet-testing") ;;
    fuzz_sql) [ -d "$TD/sqllogictest" ] || true ;;
  esac
  echo "== $name for ${SECS}s"
  "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$out/" \
    "$out" "$corpus" "${extra[@]}" 2>&1 | grep -E "^#[0-9]+ +DONE|cov:|ERROR|SUMMARY" | tail -3
done
