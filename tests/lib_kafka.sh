# lib_kafka.sh - sourced by the Kafka tests (issue 10; not a test itself): what
# run_kafka_{sink,stream,faults}.sh share.
#
# kafka_setup NAME  SKIPs (exit 77) without kcat or the mock cluster host
#   ($TB_BUILD/tb_mock_kafka), makes the temp dir T (/tmp/tb-kafka-NAME-XXXXXX) and
#   installs the EXIT trap: kills JOBPID (SIGKILL), FEEDER and MOCKPID when set, keeps T
#   with TB_KEEP=1. Sets BIN, SRC, MOCK; defines ok, bad (counting pass / fail), sane
#   LOG NAME (fails on a sanitizer report) and ms_sleep MS.
# kafka_mock ARGS...  starts the mock cluster (tb_mock_kafka ARGS, output in
#   $T/mock.out / mock.err), waits for it and sets MOCKPID and BROKERS; exits 1 when it
#   does not start.
kafka_setup() {
  BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
  SRC=${TB_SRCDIR:?TB_SRCDIR must point at the repository}
  MOCK=${TB_BUILD:-$(dirname "$BIN")}/tb_mock_kafka
  command -v kcat > /dev/null || { echo "SKIP: kcat not installed (apt-get install kcat)"; exit 77; }
  [ -x "$MOCK" ] || { echo "SKIP: no mock cluster host at $MOCK (build target tb_mock_kafka)"; exit 77; }
  T=$(mktemp -d "/tmp/tb-kafka-$1-XXXXXX")
  MOCKPID=
  FEEDER=
  JOBPID=
  trap kafka_cleanup EXIT
  pass=0
  fail=0
}

kafka_cleanup() {
  [ -n "$JOBPID" ] && kill -9 "$JOBPID" 2> /dev/null
  [ -n "$FEEDER" ] && kill "$FEEDER" 2> /dev/null
  [ -n "$MOCKPID" ] && kill "$MOCKPID" 2> /dev/null
  if [ -n "${TB_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
sane() {
  if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$1"; then
    bad "$2: sanitizer report"; head -30 "$1"; return 1
  fi
}
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

kafka_mock() {
  "$MOCK" "$@" > "$T/mock.out" 2> "$T/mock.err" &
  MOCKPID=$!
  for _ in $(seq 1 50); do grep -q '^ready' "$T/mock.out" && break; sleep 0.1; done
  BROKERS=$(awk '/^bootstrap/{print $2}' "$T/mock.out")
  [ -n "$BROKERS" ] || { echo "FAIL: the mock cluster did not start"; cat "$T/mock.err"; exit 1; }
  echo "mock cluster at $BROKERS"
}
