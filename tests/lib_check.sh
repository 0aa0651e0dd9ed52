# lib_check.sh - sourced by the script tests (not a test itself): counting checks.
#
#   ok NAME / bad NAME        count a passed / failed check and print "ok   NAME" /
#                             "FAIL NAME"
#   check NAME EXPECTED ACTUAL  files equal (diff -u; the first 30 lines of the diff on
#                             failure); the count of rows (lines minus a header) is shown
#   sane FILE WHAT            no sanitizer report in FILE (a stderr): else bad, return 1
#   check_summary             print "N passed, M failed"; its status is 0 when none failed
# The caller sets T (a work directory: check writes $T/diff.txt). pass and fail are
# globals the caller may read.
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # name expected-file actual-file
  if diff -u "$2" "$3" > "$T/diff.txt"; then
    ok "$1 ($(($(wc -l < "$2") - 1)) rows)"
  else
    bad "$1"; head -30 "$T/diff.txt"
  fi
}
sane() { # stderr-file what
  if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$1"; then
    bad "$2: sanitizer report"; head -30 "$1"; return 1
  fi
  return 0
}
check_summary() {
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
}
