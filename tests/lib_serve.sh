# lib_serve.sh - sourced by the serving tests (issue 11; not a test itself).
#
# serve_start LOG ARGS...  runs "$TB_BIN ARGS..." in the background (a `serve` or `run`
#   with --pg 0 / --http 0), waits for the addresses it prints and exports SERVE_PID,
#   PG_PORT and HTTP_PORT (empty when not served). The process is stopped on exit.
# need_node_modules       npm ci of tests/serve (pg, playwright-core) into the build dir
#   once, under a lock; exports SERVE_NODE_PATH, or returns 1 after a SKIP banner.
SERVE_PIDS=()
serve_cleanup() {
  local p
  for p in "${SERVE_PIDS[@]}"; do kill "$p" 2> /dev/null; done
  for p in "${SERVE_PIDS[@]}"; do wait "$p" 2> /dev/null; done
}

serve_start() {
  local log=$1
  shift
  "$TB_BIN" "$@" 2> "$log" &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  local i
  PG_PORT= HTTP_PORT=
  for i in $(seq 1 300); do
    if grep -q '^serving HTTP.*/metrics)$' "$log" || { grep -q '^serving PostgreSQL.*)$' "$log" &&
      ! printf '%s\n' "$@" | grep -q -- '--http'; }; then
      # read the ports once the lines are complete
      PG_PORT=$(sed -n 's/^serving PostgreSQL protocol on [0-9.]*:\([0-9]*\).*/\1/p' "$log")
      HTTP_PORT=$(sed -n 's|^serving HTTP on http://[0-9.]*:\([0-9]*\)/.*|\1|p' "$log")
      export SERVE_PID PG_PORT HTTP_PORT
      return 0
    fi
    kill -0 "$SERVE_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "serve_start: the server did not start:" >&2
  cat "$log" >&2
  return 1
}

need_node_modules() {
  local build=${TB_BUILD:-$TB_SRCDIR/build}
  local dir=$build/serve-node
  mkdir -p "$dir"
  (
    flock 9
    [ -d "$dir/node_modules/pg" ] && [ -d "$dir/node_modules/playwright-core" ] && exit 0
    cp "$TB_SRCDIR/tests/serve/package.json" "$TB_SRCDIR/tests/serve/package-lock.json" "$dir/"
    command -v npm > /dev/null && (cd "$dir" && timeout 600 npm ci --no-audit --no-fund) \
      > "$build/npm-serve.log" 2>&1
  ) 9> "$build/.npm-serve.lock"
  if [ ! -d "$dir/node_modules/pg" ]; then
    echo "SKIP: could not install the npm packages of tests/serve (see $build/npm-serve.log)"
    return 1
  fi
  export SERVE_NODE_PATH=$dir/node_modules
  # ES modules resolve packages from the script's own directory (NODE_PATH is ignored
  # for `import`): the scripts run from a copy beside node_modules.
  cp "$TB_SRCDIR"/tests/serve/*.mjs "$dir/"
  export SERVE_JS=$dir
}
