#!/usr/bin/env bash
# issue 11 point 6: the C API example (examples/c/live_view.c, built by CMake as
# example_live_view) runs a job, polls its progress, reads the view as Arrow arrays,
# serves it (psql reads the same view while it runs is checked in test_capi), stops.
# Env: TB_BUILD, TB_SRCDIR.
set -uo pipefail
BUILD=${TB_BUILD:?}
EX=$BUILD/example_live_view
[ -x "$EX" ] || { echo "FAIL: $EX was not built"; exit 1; }
T=$(mktemp -d /tmp/tb-capi-XXXXXX)
trap 'rm -rf "$T"' EXIT
timeout 60 "$EX" "$T" > "$T/out" 2>&1
rc=$?
cat "$T/out"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
# products 1 books, 2 toys, 3 garden; file f has 10 rows of quantity f+1, product i%3+1:
# per category rows 4/3/3 (books/toys/garden) per file -> books 4*(1+2+3) = 24, ...
expected="arrow schema +s: category u, total_quantity l
books 24
garden 18
toys 18
ok"
actual=$(grep -E '^(arrow schema|books|garden|toys|ok)' "$T/out")
if [ "$expected" != "$actual" ]; then
  echo "FAIL: expected"; echo "$expected"; echo "got"; echo "$actual"; exit 1
fi
grep -q '^batches: [1-9]' "$T/out" || { echo "FAIL: no batch counted"; exit 1; }
echo "ok   C API example"
