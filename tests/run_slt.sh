#!/usr/bin/env bash
# SQL tests: every tests/sql/*.slt file must pass; then the SQLite sqllogictest files
# select1..5 from $TB_TESTDATA/sqllogictest must pass too (issue 13: a wrong answer, a
# crash or a hang of 15 minutes fails the script; the figures stay printed). Without the
# shared test data the script exits 77 (CTest: skipped), never 0.
set -u
cd "${TB_SRCDIR:-$(dirname "$0")/..}" || exit 1
TB_BIN=${TB_BIN:-build/tributary}
export TB_TESTDATA=${TB_TESTDATA:-$PWD/../shared/testdata}
if [ ! -d "$TB_TESTDATA" ]; then
    echo "WARNING: no shared test data at $TB_TESTDATA: the records that read it are SKIPPED" >&2
    echo "         (set TB_TESTDATA; see README, Test data)" >&2
    unset TB_TESTDATA
fi
if [ ! -x "$TB_BIN" ]; then
    echo "FAIL: no tributary binary at $TB_BIN (set TB_BIN)"
    exit 1
fi
status=0

echo "== tests/sql/*.slt"
if ! "$TB_BIN" slt -v tests/sql/*.slt; then
    echo "FAIL: tests/sql"
    status=1
fi

echo "== sqllogictest select1-5"
files=()
for i in 1 2 3 4 5; do
    f="${TB_TESTDATA:-/nonexistent}/sqllogictest/select$i.test"
    [ -f "$f" ] && files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
    echo "SKIP: no sqllogictest files under ${TB_TESTDATA:-../shared/testdata}/sqllogictest"
    [ $status -eq 0 ] && status=77
else
    timeout 900 "$TB_BIN" slt "${files[@]}"
    rc=$?
    if [ $rc -eq 124 ]; then
        echo "FAIL: sqllogictest select1-5 did not finish within 15 minutes"
        status=1
    elif [ $rc -gt 1 ]; then
        echo "FAIL: sqllogictest select1-5 crashed (exit status $rc)"
        status=1
    elif [ $rc -ne 0 ]; then
        echo "FAIL: sqllogictest select1-5: wrong answers (the figures above)"
        status=1
    fi
fi
exit $status
