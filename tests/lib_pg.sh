# lib_pg.sh - sourced by tests that need a real PostgreSQL 15 (not a test itself).
#
# pg_start starts Debian's PostgreSQL 15 server in a fresh temporary directory on
# 127.0.0.1 and a free port (issue 12, ../shared/INFRA.md), and exports
#   PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres (libpq and psql read them)
#   PG_DSN  = 'host=127.0.0.1 port=... user=postgres dbname=postgres'  (keyword form)
#   PG_URL  = 'postgresql://postgres@127.0.0.1:.../postgres'           (URI form)
#   PG_DIR  = the temporary directory (data in $PG_DIR/data, log in $PG_DIR/log)
# The server is stopped (and the directory removed unless TB_KEEP is set) when the
# shell exits: pg_start adds pg_cleanup to the EXIT trap, keeping any trap the caller
# set before (set yours BEFORE pg_start, or call pg_cleanup from yours).
# If the server binaries or psql are missing, pg_start prints "SKIP: ..." and exits 77
# (the tests declare SKIP_RETURN_CODE 77): a test without its server never passes.
#
# Other helpers:
#   pg_psql ARGS...      psql -X -q -v ON_ERROR_STOP=1 against the server
#   pg_stop [MODE]       stop the server (pg_ctl -m MODE, default fast); data kept
#   pg_restart_server    stop (immediate) and start again on the same port and data
#   pg_kill_backends     pg_terminate_backend on every other client backend
#   pg_create_db NAME    create a database, echo its DSN
# Env: TB_PG_BIN overrides /usr/lib/postgresql/15/bin.

PG_BIN=${TB_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=
PG_RUNAS=()

pg_skip() {
  echo "SKIP: $*"
  exit 77
}

pg_log_tail() {
  [ -n "$PG_DIR" ] && [ -f "$PG_DIR/log" ] && tail -20 "$PG_DIR/log" >&2
  return 0
}

# _pg_ctl ARGS...: pg_ctl as the server's owner.
_pg_ctl() {
  "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" "$@"
}

_pg_start_on() { # port
  _pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 30 \
    -o "-p $1 -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=40" \
    start > /dev/null 2>&1
}

# A port nobody listens on now (another test may take it before us: pg_start retries).
_pg_free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

pg_start() {
  local b try
  for b in initdb pg_ctl postgres; do
    [ -x "$PG_BIN/$b" ] || pg_skip "PostgreSQL server binary $PG_BIN/$b missing (apt-get install postgresql-15)"
  done
  command -v psql > /dev/null || pg_skip "psql missing (apt-get install postgresql-client-15)"
  PG_DIR=$(mktemp -d /tmp/tb-pg-XXXXXX) || return 1
  # initdb refuses root: run the server as the postgres user then.
  if [ "$(id -u)" = 0 ]; then
    id postgres > /dev/null 2>&1 || pg_skip "running as root and no postgres user"
    chown postgres: "$PG_DIR"
    PG_RUNAS=(runuser -u postgres --)
  else
    PG_RUNAS=()
  fi
  _pg_add_trap
  if ! "${PG_RUNAS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync \
    -E UTF8 --locale=C.UTF-8 > "$PG_DIR/initdb.log" 2>&1; then
    echo "pg_start: initdb failed:" >&2
    tail -20 "$PG_DIR/initdb.log" >&2
    return 1
  fi
  for try in 1 2 3 4 5; do
    PGPORT=$(_pg_free_port) || break
    if _pg_start_on "$PGPORT"; then
      export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres
      export PG_DSN="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
      export PG_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
      export PG_DIR
      return 0
    fi
  done
  echo "pg_start: the server did not start:" >&2
  pg_log_tail
  return 1
}

pg_psql() {
  psql -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_stop() { # [mode]
  [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
  _pg_ctl -D "$PG_DIR/data" -m "${1:-fast}" -w -t 30 stop > /dev/null 2>&1
}

pg_restart_server() {
  pg_stop immediate
  _pg_start_on "$PGPORT" || { echo "pg_restart_server: start failed" >&2; pg_log_tail; return 1; }
}

pg_kill_backends() {
  pg_psql -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
}

pg_create_db() { # name
  pg_psql -c "CREATE DATABASE \"$1\"" > /dev/null || return 1
  echo "host=127.0.0.1 port=$PGPORT user=postgres dbname=$1"
}

pg_cleanup() {
  [ -n "$PG_DIR" ] || return 0
  pg_stop immediate || true
  # If pg_ctl could not stop it, kill the postmaster by its PID (never by name).
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    kill -9 "$(head -1 "$PG_DIR/data/postmaster.pid")" 2> /dev/null || true
  fi
  if [ -n "${TB_KEEP:-}" ]; then echo "kept $PG_DIR"; else rm -rf "$PG_DIR"; fi
  PG_DIR=
}

# Chain pg_cleanup after the caller's EXIT trap, if any.
_pg_add_trap() {
  local prev
  prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
  case "$prev" in
  *pg_cleanup*) return 0 ;;
  esac
  if [ -n "$prev" ]; then
    # shellcheck disable=SC2064
    trap "$prev; pg_cleanup" EXIT
  else
    trap pg_cleanup EXIT
  fi
}
