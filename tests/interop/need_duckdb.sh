# Sourced by script tests that use DuckDB as an oracle: makes @duckdb/node-api available
# in $TB_BUILD/node_modules (npm install once, under a lock: CTest runs tests in
# parallel) and exports TB_NODE_MODULES. Returns 1 (after a loud SKIP banner) when npm
# cannot install it: the caller then exits 77, which CTest reports as skipped.
need_duckdb() {
  local build=${TB_BUILD:-$TB_SRCDIR/build}
  mkdir -p "$build"
  export TB_NODE_MODULES=$build/node_modules
  (
    flock 9
    [ -d "$TB_NODE_MODULES/@duckdb/node-api" ] && exit 0
    command -v node >/dev/null && command -v npm >/dev/null &&
      timeout 600 npm install --no-audit --no-fund --prefix "$build" @duckdb/node-api \
        > "$build/npm-duckdb.log" 2>&1
  ) 9> "$build/.npm-duckdb.lock"
  if [ ! -d "$TB_NODE_MODULES/@duckdb/node-api" ]; then
    echo "##########################################################################"
    echo "SKIP: could not install @duckdb/node-api with npm (see $build/npm-duckdb.log)"
    echo "SKIP: the DuckDB cross-check in $(basename "$0") was NOT run"
    echo "##########################################################################"
    return 1
  fi
}
