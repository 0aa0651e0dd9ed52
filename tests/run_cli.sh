#!/usr/bin/env bash
# The command line (issue 2 point 2): --help/--version, exit statuses 0/1/2, the three
# output formats (CSV per RFC 4180 with NULL as an empty field, JSON lines, psql-aligned
# tables), SQL from stdin with '-', several statements (the last one's result printed),
# errors with a caret, and the interactive shell's commands on piped input.
# Env: TB_BIN.
set -uo pipefail
BIN=${TB_BIN:?TB_BIN must point at the tributary binary}
T=$(mktemp -d /tmp/tb-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1"; echo "  expected: $(printf '%q' "$2")"
    echo "  actual:   $(printf '%q' "$3")"
  fi
}
status() { "$@" > "$T/out" 2> "$T/err"; echo $?; }

check "--version" "0" "$(status "$BIN" --version)"
check "--version prints the version" "1" "$(grep -c '^tributary [0-9]' "$T/out")"
check "--help" "0" "$(status "$BIN" --help)"
check "--help lists query" "1" "$(grep -c '^  query' "$T/out")"
check "unknown command: usage, 2" "2" "$(status "$BIN" bogus)"
check "query without SQL: usage, 2" "2" "$(status "$BIN" query)"
check "bad --format: usage, 2" "2" "$(status "$BIN" query --format xml 'SELECT 1')"
check "SQL error: 1" "1" "$(status "$BIN" query 'SELEC 1')"
check "SQL error on stderr with a caret" \
  "$(printf 'ERROR:  syntax error at or near "SELEC"\nLINE 1: SELEC 1\n        ^')" "$(cat "$T/err")"
check "nothing on stdout after an error" "" "$(cat "$T/out")"

# CSV: header, RFC 4180 quoting (delimiter, quote, newline), NULL as empty, timestamps
csv=$("$BIN" query --format csv "SELECT 1 AS a, NULL::int AS b,
  TIMESTAMP '2024-01-02 03:04:05.25' AS t, TIMESTAMP '2024-01-02 03:04:05' AS t2,
  'x,\"y' AS s, 'two
lines' AS m, DATE '2024-02-03' AS d, 1.5::numeric(5,2) AS n, true AS bo")
check "csv output" 'a,b,t,t2,s,m,d,n,bo
1,,2024-01-02 03:04:05.25,2024-01-02 03:04:05,"x,""y","two
lines",2024-02-03,1.50,true' "$csv"

# JSON lines: one object per row, null, numbers unquoted, strings escaped
json=$("$BIN" query --format json "SELECT 1 AS a, 'q\"' AS b UNION ALL SELECT 2, NULL ORDER BY a")
check "json output" '{"a":1,"b":"q\""}
{"a":2,"b":null}' "$json"

# table: aligned like psql (numbers right, text left), row count footer
tab=$("$BIN" query "SELECT 1 AS a, 'hello' AS bbbbbb, NULL AS c UNION ALL SELECT 22, 'x', NULL ORDER BY a")
check "table output" ' a  | bbbbbb | c 
----+--------+---
  1 | hello  | 
 22 | x      | 
(2 rows)' "$tab"

# stdin with '-', several statements: the last result is printed
out=$(printf "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (2), (3);\nSELECT sum(a) AS s FROM t;\n" |
  "$BIN" query --format csv -)
check "stdin, several statements" 's
6' "$out"

# the shell on piped input: SQL over lines, meta-commands of psql and sqlite forms
out=$(printf "CREATE TABLE t (a int);\nINSERT INTO t\n VALUES (7);\n\\\\d\n.mode csv\nSELECT a FROM t;\n\\\\q\nSELECT 99;\n" |
  "$BIN" 2> "$T/err")
check "shell status" "0" "$?"
check "shell output (INSERT reports its row count)" '1 row
 name | kind  
------+-------
 t    | table
(1 row)
a
7' "$out"
out=$(printf "SELECT nosuch;\nSELECT 1 AS one;\n" | "$BIN" 2> "$T/err")
check "shell: an error does not end the session, status 1" "1" "$?"
check "shell: the next statement runs" ' one 
-----
   1
(1 row)' "$out"
check "shell: the error names the column" "1" "$(grep -c 'column "nosuch" does not exist' "$T/err")"

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
