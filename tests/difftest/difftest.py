#!/usr/bin/python3
"""Differential tester (issue 13 point 4): random schemas, rows and queries run on
Tributary and on a real PostgreSQL 15; the answers must agree.

Generator: a random schema of three tables (an integer join key with a small domain,
and columns of integer, bigint, numeric(10,2), double precision, text, boolean, date,
timestamp), rows with NULLs, extremes (integer bounds, 0, -1, empty strings) and
duplicates, then queries from templates: expressions, filters, joins of every type,
aggregates, window functions, grouping sets, set operations, subqueries, DISTINCT,
ORDER BY / LIMIT. Every query is deterministic in PostgreSQL's semantics (ORDER BY ...
LIMIT and order-sensitive window functions order by every column, so ties are rows
that are equal), so a difference is a bug on one side (ours, so far).

Running: Tributary is one `tributary` shell process fed every statement through a pipe
(`\\mode json`; after each query a marker query, so each answer is cut at its marker;
a crash is detected and the next query runs in a new process); PostgreSQL through
psycopg2 in autocommit mode with every value fetched as PostgreSQL's own text.

Comparison (README, "Differential testing"): rows are compared as multisets (sorted)
unless the query has an ORDER BY that orders every output column, then in order. Values:
NULL = NULL; booleans; numbers compare by value (text "1.50" = "1.5", integer = numeric,
-0 = 0): exactly, or after rounding the one with more decimals to the other's number of
decimals (avg over integers is numeric(38,6) here, not PostgreSQL's 16+ digits), or
within a relative 1e-9 (double precision sums in another order); everything else as
text. An error on both sides agrees (messages are not compared). An error of ours
whose message says "not supported" where PostgreSQL answers is counted apart as
unsupported (a missing feature, not a wrong answer); any other difference is a
disagreement: printed with the schema, rows and query to reproduce it.

Exit status: 0 when there is no disagreement, 1 otherwise, 2 on usage or setup errors.
"""

import argparse
import decimal
import json
import os
import random
import subprocess
import sys
import time
from decimal import Decimal

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # the shell script turns this into a SKIP
    print("SKIP: python3-psycopg2 missing (apt-get install python3-psycopg2)")
    sys.exit(77)

decimal.getcontext().prec = 80

INT_EXTREMES = [-2147483648, 2147483647, 0, -1, 1]
BIG_EXTREMES = [-9223372036854775808, 9223372036854775807, 0, -1]
TYPES = ["int", "bigint", "numeric(10,2)", "double precision", "text", "boolean", "date",
         "timestamp"]
NUMERIC_TYPES = ("int", "bigint", "numeric(10,2)", "double precision")
# no non-ASCII: case mapping here is ASCII only (README, differences from PostgreSQL)
WORDS = ["", "a", "b", "ab", "abc", "B", "x y", "zz", "hello", "Hello", "%_"]


# ---------------------------------------------------------------- schema and data

class Table:
    def __init__(self, name, cols):
        self.name = name
        self.cols = cols  # list of (name, type)

    def of_type(self, pred):
        return [c for c, t in self.cols if pred(t)]


def rand_value(rng, typ, prev):
    if prev and rng.random() < 0.15:
        return rng.choice(prev)  # duplicates
    if rng.random() < 0.15:
        return "NULL"
    if typ == "int":
        if rng.random() < 0.08:
            return str(rng.choice(INT_EXTREMES))
        return str(rng.randint(-20, 20))
    if typ == "bigint":
        if rng.random() < 0.05:
            return str(rng.choice(BIG_EXTREMES))
        return str(rng.randint(-1000, 1000))
    if typ == "numeric(10,2)":
        if rng.random() < 0.05:
            return rng.choice(["99999999.99", "-99999999.99", "0.00", "0.01"])
        return "%d.%02d" % (rng.randint(-500, 500), rng.randint(0, 99))
    if typ == "double precision":
        if rng.random() < 0.05:
            return rng.choice(["0.0", "-1.5", "1e10", "0.1", "3.25"])
        return repr(rng.randint(-400, 400) / 8.0)
    if typ == "text":
        return "'" + rng.choice(WORDS).replace("'", "''") + "'"
    if typ == "boolean":
        return rng.choice(["true", "false"])
    if typ == "date":
        return "'2024-%02d-%02d'" % (rng.randint(1, 12), rng.randint(1, 28))
    if typ == "timestamp":
        return "'2024-01-%02d %02d:%02d:%02d'" % (rng.randint(1, 5), rng.randint(0, 23),
                                                 rng.randint(0, 59), rng.randint(0, 59))
    raise ValueError(typ)


def gen_schema(rng):
    tables = []
    stmts = []
    for ti in range(3):
        name = "t%d" % (ti + 1)
        cols = [("k", "int")]
        n = rng.randint(2, 5)
        for ci in range(n):
            cols.append(("%s_%s" % ("abcdefg"[ci], name), rng.choice(TYPES)))
        # every table has an int, a text and a numeric-like column to keep templates simple
        need = [("i_" + name, "int"), ("s_" + name, "text"), ("n_" + name, "numeric(10,2)")]
        cols += need
        t = Table(name, cols)
        tables.append(t)
        stmts.append("CREATE TABLE %s (%s)" % (name, ", ".join("%s %s" % c for c in cols)))
        n_rows = rng.choice([0, 1, 3, 8, 15, 25, 40]) if ti > 0 else rng.choice([8, 15, 25, 40])
        rows = []
        prev = {c: [] for c, _ in cols}
        for _ in range(n_rows):
            if rows and rng.random() < 0.1:
                rows.append(rng.choice(rows))  # duplicate rows
                continue
            vals = []
            for c, typ in cols:
                if c == "k":
                    v = "NULL" if rng.random() < 0.1 else str(rng.randint(0, 5))
                else:
                    v = rand_value(rng, typ, prev[c])
                prev[c].append(v)
                vals.append(v)
            rows.append("(" + ", ".join(vals) + ")")
        if rows:
            stmts.append("INSERT INTO %s VALUES %s" % (name, ", ".join(rows)))
    return tables, stmts


# ---------------------------------------------------------------- expressions

class Gen:
    def __init__(self, rng, tables):
        self.rng = rng
        self.tables = tables

    def cols(self, rels, pred=lambda t: True):
        out = []
        for alias, t in rels:
            for c, typ in t.cols:
                if pred(typ):
                    out.append(("%s.%s" % (alias, c), typ))
        return out

    def int_expr(self, rels, depth=0):
        r = self.rng
        cs = self.cols(rels, lambda t: t == "int")
        if depth >= 2 or r.random() < 0.4:
            if r.random() < 0.2:
                return str(r.randint(-5, 10))
            return r.choice(cs)[0]
        k = r.randint(0, 7)
        a, b = self.int_expr(rels, depth + 1), self.int_expr(rels, depth + 1)
        if k == 0:
            return "(%s + %s)" % (a, b)
        if k == 1:
            return "(%s - %s)" % (a, b)
        if k == 2:
            return "(%s * %s)" % (a, r.randint(-3, 3))
        if k == 3:
            return "(%s / NULLIF(%s, 0))" % (a, b)
        if k == 4:
            return "abs(%s)" % a
        if k == 5:
            return "COALESCE(%s, %s)" % (a, b)
        if k == 6:
            return "CASE WHEN %s THEN %s ELSE %s END" % (self.bool_expr(rels, depth + 1), a, b)
        return "(%s %% NULLIF(%s, 0))" % (a, b)

    def num_expr(self, rels, depth=0):
        r = self.rng
        cs = self.cols(rels, lambda t: t in NUMERIC_TYPES)
        if depth >= 2 or r.random() < 0.4:
            return r.choice(cs)[0]
        k = r.randint(0, 5)
        a, b = self.num_expr(rels, depth + 1), self.num_expr(rels, depth + 1)
        if k == 0:
            return "(%s + %s)" % (a, b)
        if k == 1:
            return "(%s - %s)" % (a, b)
        if k == 2:
            return "round(%s::numeric, 1)" % a
        if k == 3:
            return "(%s * 2)" % a
        if k == 4:
            return "greatest(%s, %s)" % (a, b)
        return "(-%s)" % a

    def text_expr(self, rels, depth=0):
        r = self.rng
        cs = self.cols(rels, lambda t: t == "text")
        if depth >= 2 or r.random() < 0.4:
            return r.choice(cs)[0]
        k = r.randint(0, 6)
        a = self.text_expr(rels, depth + 1)
        if k == 0:
            return "upper(%s)" % a
        if k == 1:
            return "(%s || '-' || %s)" % (a, self.text_expr(rels, depth + 1))
        if k == 2:
            return "substr(%s, 2)" % a
        if k == 3:
            return "COALESCE(%s, 'none')" % a
        if k == 4:
            return "length(%s)::text" % a
        if k == 5:
            return "replace(%s, 'a', 'Q')" % a
        return "lower(%s)" % a

    def bool_expr(self, rels, depth=0):
        r = self.rng
        k = r.randint(0, 9)
        if depth >= 2:
            k = r.randint(0, 3)
        if k == 0:
            return "%s %s %s" % (self.int_expr(rels, depth + 1), r.choice(["=", "<", ">=", "<>"]),
                                 self.int_expr(rels, depth + 1))
        if k == 1:
            return "%s %s %s" % (self.num_expr(rels, depth + 1), r.choice(["<", ">", "<="]),
                                 self.num_expr(rels, depth + 1))
        if k == 2:
            return "%s IS %sNULL" % (r.choice(self.cols(rels))[0], r.choice(["", "NOT "]))
        if k == 3:
            return "%s %s '%s'" % (self.text_expr(rels, depth + 1), r.choice(["<", "=", ">"]),
                                   r.choice(WORDS))
        if k == 4:
            return "(%s AND %s)" % (self.bool_expr(rels, depth + 1), self.bool_expr(rels, depth + 1))
        if k == 5:
            return "(%s OR %s)" % (self.bool_expr(rels, depth + 1), self.bool_expr(rels, depth + 1))
        if k == 6:
            return "NOT (%s)" % self.bool_expr(rels, depth + 1)
        if k == 7:
            return "%s IN (%d, %d, NULL)" % (self.int_expr(rels, depth + 1), r.randint(-3, 3),
                                            r.randint(0, 5))
        if k == 8:
            return "%s BETWEEN %d AND %d" % (self.int_expr(rels, depth + 1), r.randint(-10, 0),
                                           r.randint(0, 10))
        return "%s LIKE '%s'" % (self.text_expr(rels, depth + 1), r.choice(["a%", "%b", "_", "%"]))

    def any_expr(self, rels):
        r = self.rng
        k = r.randint(0, 4)
        if k == 0:
            return self.int_expr(rels)
        if k == 1:
            return self.num_expr(rels)
        if k == 2:
            return self.text_expr(rels)
        if k == 3:
            return self.bool_expr(rels)
        return r.choice(self.cols(rels))[0]


# ---------------------------------------------------------------- queries

def select_list(exprs):
    return ", ".join("%s AS c%d" % (e, i) for i, e in enumerate(exprs))


def full_order(n):
    return " ORDER BY " + ", ".join(str(i + 1) for i in range(n))


AGGS = ["count(*)", "count({x})", "sum({i})", "min({x})", "max({x})", "avg({i})",
        "sum({n})", "avg({n})", "count(DISTINCT {x})", "min({s})", "max({n})",
        "string_agg({s}, ',' ORDER BY {s})", "bool_and({b})", "bool_or({b})",
        "stddev_samp({i})", "var_pop({n})", "array_agg({i} ORDER BY {i})", "every({b})",
        "stddev_pop({n})", "variance({i})", "corr({i}, {n})", "covar_pop({n}, {i})",
        "covar_samp({i}, {i})", "regr_slope({n}, {i})", "regr_intercept({i}, {n})",
        "regr_r2({n}, {i})", "regr_count({i}, {n})", "regr_avgx({i}, {n})", "regr_sxy({n}, {i})",
        "string_agg({s}, '-' ORDER BY {i} DESC, {s})", "string_agg(DISTINCT {s}, '' ORDER BY {s} DESC)",
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY {i})",
        "percentile_cont(0.3) WITHIN GROUP (ORDER BY {n} DESC)",
        "percentile_disc(0.25) WITHIN GROUP (ORDER BY {x})",
        "percentile_disc(1) WITHIN GROUP (ORDER BY {s} DESC)", "mode() WITHIN GROUP (ORDER BY {x})"]
AGGS_BASIC = AGGS[:11]
WINDOW_RANK = ["row_number()", "rank()", "dense_rank()", "percent_rank()", "cume_dist()",
               "ntile(3)", "lag({x})", "lead({x}, 2)", "first_value({x})", "last_value({x})",
               "nth_value({x}, 2)", "lag({i}, 1, -1)"]
WINDOW_AGG = ["sum({i})", "count(*)", "count({x})", "avg({i})", "min({x})", "max({x})",
              "sum({n})"]
FRAMES = ["", "ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING", "ROWS UNBOUNDED PRECEDING",
          "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
          "ROWS BETWEEN 2 PRECEDING AND CURRENT ROW EXCLUDE CURRENT ROW",
          "RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING",
          "RANGE BETWEEN 2 PRECEDING AND 1 FOLLOWING", "GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW",
          "ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING", "GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING EXCLUDE TIES",
          "RANGE BETWEEN CURRENT ROW AND 3 FOLLOWING EXCLUDE GROUP"]


class QueryGen(Gen):
    def __init__(self, rng, tables, features):
        Gen.__init__(self, rng, tables)
        self.features = features

    def rel(self, i=None):
        t = self.tables[0] if i is None else self.tables[i]
        return [(t.name, t)]

    def fill(self, tmpl, rels):
        r = self.rng
        return tmpl.format(x=r.choice(self.cols(rels))[0],
                           i=r.choice(self.cols(rels, lambda t: t in ("int", "bigint")))[0],
                           n=r.choice(self.cols(rels, lambda t: t in NUMERIC_TYPES))[0],
                           s=r.choice(self.cols(rels, lambda t: t == "text"))[0],
                           b=self.bool_expr(rels, 2))

    def q_expr(self):
        r = self.rng
        rels = self.rel(r.randint(0, 2))
        exprs = [self.any_expr(rels) for _ in range(r.randint(1, 3))]
        q = "SELECT %s FROM %s" % (select_list(exprs), rels[0][0])
        if r.random() < 0.6:
            q += " WHERE " + self.bool_expr(rels)
        if r.random() < 0.3:
            q += full_order(len(exprs))
            if r.random() < 0.5:
                q += " LIMIT %d" % r.randint(0, 5)
                if r.random() < 0.5:
                    q += " OFFSET %d" % r.randint(0, 3)
        return q

    def q_join(self):
        r = self.rng
        a, b = r.sample([0, 1, 2], 2)
        ta, tb = self.tables[a], self.tables[b]
        rels = [(ta.name, ta), (tb.name, tb)]
        jt = r.choice(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN"])
        exprs = [self.any_expr(rels) for _ in range(r.randint(1, 3))]
        q = "SELECT %s FROM %s %s %s" % (select_list(exprs), ta.name, jt, tb.name)
        if jt != "CROSS JOIN":
            cond = "%s.k = %s.k" % (ta.name, tb.name)
            if r.random() < 0.3:
                cond += " AND " + self.bool_expr(rels, 1)
            q += " ON " + cond
        if r.random() < 0.4:
            q += " WHERE " + self.bool_expr(rels, 1)
        return q

    def q_agg(self):
        r = self.rng
        rels = self.rel(r.randint(0, 2))
        pool = AGGS if "aggx" in self.features else AGGS_BASIC
        n_g = r.randint(0, 2)
        groups = [r.choice([r.choice(self.cols(rels))[0], self.int_expr(rels, 1)])
                  for _ in range(n_g)]
        aggs = [self.fill(r.choice(pool), rels) for _ in range(r.randint(1, 3))]
        q = "SELECT %s FROM %s" % (select_list(groups + aggs), rels[0][0])
        if r.random() < 0.4:
            q += " WHERE " + self.bool_expr(rels, 1)
        if groups:
            q += " GROUP BY " + ", ".join(groups)
            if r.random() < 0.3:
                q += " HAVING count(*) > %d" % r.randint(0, 2)
        return q

    def q_window(self):
        r = self.rng
        rels = self.rel(r.randint(0, 2))
        t = rels[0][1]
        allcols = [c for c, _ in t.cols]
        part = ""
        if r.random() < 0.6:
            part = "PARTITION BY %s " % r.choice(["k", r.choice(allcols)])
        exprs = [r.choice(allcols)]
        # one full order per query: with two different full orders, equal (duplicate)
        # rows could pair their two results either way, legitimately
        full = "ORDER BY " + ", ".join("%s%s" % (c, r.choice(["", " DESC"])) for c in allcols)
        for _ in range(r.randint(1, 2)):
            if r.random() < 0.5:
                f = self.fill(r.choice(WINDOW_RANK), rels)
                frame = ""
                if f.startswith(("first_value", "last_value", "nth_value")) and r.random() < 0.5:
                    frame = " " + r.choice(FRAMES[1:5])
            else:
                f = self.fill(r.choice(WINDOW_AGG), rels)
                frame = r.choice(FRAMES)
                frame = " " + frame if frame else ""
            if "RANGE" in frame and "PRECEDING" in frame.replace("UNBOUNDED PRECEDING", "") \
                    or "RANGE BETWEEN CURRENT ROW AND 3" in frame:
                okey = r.choice(t.of_type(lambda x: x in ("int", "bigint", "numeric(10,2)")))
                order = "ORDER BY %s %s" % (okey, r.choice(["", "DESC", "NULLS FIRST"]))
            elif r.random() < 0.15 and not frame and not f.startswith(("row_number", "lag", "lead",
                                                                          "first", "last", "nth",
                                                                          "ntile")):
                order = ""
            else:
                # every column: ties are equal rows, so the answer is determined
                order = full
            exprs.append("%s OVER (%s%s%s)" % (f, part, order, frame))
        return "SELECT %s FROM %s" % (select_list(exprs), t.name)

    def q_grouping(self):
        r = self.rng
        rels = self.rel(r.randint(0, 2))
        t = rels[0][1]
        gcols = r.sample([c for c, _ in t.cols], 2)
        kind = r.randint(0, 2)
        if kind == 0:
            gb = "ROLLUP (%s, %s)" % tuple(gcols)
        elif kind == 1:
            gb = "CUBE (%s, %s)" % tuple(gcols)
        else:
            gb = "GROUPING SETS ((%s), (%s, %s), ())" % (gcols[0], gcols[0], gcols[1])
        exprs = gcols + ["grouping(%s, %s)" % tuple(gcols),
                         self.fill(r.choice(AGGS_BASIC), rels)]
        return "SELECT %s FROM %s GROUP BY %s" % (select_list(exprs), t.name, gb)

    def q_setop(self):
        r = self.rng
        a, b = self.tables[r.randint(0, 2)], self.tables[r.randint(0, 2)]
        op = r.choice(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL",
                       "EXCEPT ALL"])
        q1 = "SELECT k AS c0, i_%s AS c1 FROM %s" % (a.name, a.name)
        q2 = "SELECT k, i_%s FROM %s" % (b.name, b.name)
        if r.random() < 0.5:
            q1 += " WHERE " + self.bool_expr([(a.name, a)], 1)
        return "%s %s %s" % (q1, op, q2)

    def q_subquery(self):
        r = self.rng
        a, b = r.sample([0, 1, 2], 2)
        ta, tb = self.tables[a], self.tables[b]
        ra = [(ta.name, ta)]
        k = r.randint(0, 5)
        exprs = [r.choice(self.cols(ra))[0], self.int_expr(ra, 1)]
        if k == 0:
            w = "%s.k IN (SELECT k FROM %s)" % (ta.name, tb.name)
        elif k == 1:
            w = "%s.k NOT IN (SELECT k FROM %s WHERE k IS NOT NULL)" % (ta.name, tb.name)
        elif k == 2:
            w = "EXISTS (SELECT 1 FROM %s WHERE %s.k = %s.k)" % (tb.name, tb.name, ta.name)
        elif k == 3:
            w = "NOT EXISTS (SELECT 1 FROM %s WHERE %s.k = %s.k AND %s.i_%s > %s.i_%s)" % (
                tb.name, tb.name, ta.name, tb.name, tb.name, ta.name, ta.name)
        elif k == 4:
            exprs.append("(SELECT count(*) FROM %s WHERE %s.k = %s.k)" % (tb.name, tb.name,
                                                                         ta.name))
            w = "true"
        else:
            exprs.append("(SELECT max(i_%s) FROM %s)" % (tb.name, tb.name))
            w = "%s.i_%s > (SELECT min(i_%s) FROM %s)" % (ta.name, ta.name, tb.name, tb.name)
        return "SELECT %s FROM %s WHERE %s" % (select_list(exprs), ta.name, w)

    def q_distinct(self):
        r = self.rng
        rels = self.rel(r.randint(0, 2))
        t = rels[0][1]
        exprs = [r.choice(self.cols(rels))[0] for _ in range(r.randint(1, 2))]
        if "distinct_on" in self.features and r.random() < 0.4:
            allc = ", ".join("%s.%s" % (t.name, c) for c, _ in t.cols)
            return "SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s, %s" % (
                exprs[0], select_list(exprs), t.name, exprs[0], allc)
        return "SELECT DISTINCT %s FROM %s" % (select_list(exprs), t.name)

    def q_series(self):
        r = self.rng
        t = self.tables[r.randint(0, 2)]
        lo, hi = r.randint(-3, 3), r.randint(-3, 8)
        step = r.choice([1, 1, 2, -1, 3])
        return ("SELECT g AS c0, %s.i_%s AS c1 FROM generate_series(%d, %d, %d) g LEFT JOIN %s "
                "ON %s.k = g" % (t.name, t.name, lo, hi, step, t.name, t.name))

    # to_char / to_date / to_timestamp templates (issue 13 point 3)
    TS_TOKENS = ["YYYY", "YYY", "YY", "Y", "Y,YYY", "IYYY", "MM", "Mon", "MON", "mon", "Month",
                 "MONTH", "FMMonth", "DD", "FMDD", "DDth", "DDD", "D", "ID", "IW", "IDDD", "WW",
                 "W", "Q", "CC", "J", "HH24", "HH12", "HH", "FMHH12", "MI", "SS", "MS", "US",
                 "SSSS", "AM", "pm", "A.M.", "Day", "DAY", "Dy", "dy", "FMDay", "RM", "rm",
                 "BC", "TZ", "OF", "\"at\"", "FF3"]
    TS_SEPS = ["-", " ", ":", "/", ".", ", ", "", "T"]
    NUM_TMPL = ["9999.99", "FM999,990.00", "S9999", "0000", "999MI", "FM9.999", "99",
                "9G999D99", "999PR", "SG99.9", "FM99990", "999,999,999.9", "FM0.00", "9.9",
                "\"n=\"999", "00.000", "FMS9990.0", "999PL"]
    PARSE_TMPL = ["YYYY-MM-DD", "DD Mon YYYY", "YYYYMMDD", "FMMonth FMDD, YYYY", "YYYY DDD",
                  "MM/DD/YYYY HH24:MI:SS", "DD.MM.YYYY HH12:MI:SS AM", "YYYY-MM-DD\"T\"HH24:MI",
                  "Dy, DD Mon YYYY HH24:MI:SS", "YYYY-MM-DD HH24:MI:SS.US", "J", "RM YYYY DD",
                  "YY-MM-DD", "YYYY-MM-DD HH:MI:SS PM"]

    def q_fmt(self):
        r = self.rng
        rels = self.rel(r.randint(0, 2))
        t = rels[0][1]
        exprs = []
        for _ in range(r.randint(1, 3)):
            k = r.randint(0, 3)
            tcols = self.cols(rels, lambda ty: ty in ("timestamp", "date"))
            if k == 0 and tcols:
                toks = [r.choice(self.TS_TOKENS) for _ in range(r.randint(1, 5))]
                tmpl = "".join(x + r.choice(self.TS_SEPS) for x in toks)
                exprs.append("to_char(%s, '%s')" % (r.choice(tcols)[0], tmpl))
            elif k == 1:
                ncols = self.cols(rels, lambda ty: ty in ("int", "bigint", "numeric(10,2)"))
                if r.random() < 0.2:
                    ncols = self.cols(rels, lambda ty: ty in NUMERIC_TYPES)
                exprs.append("to_char(%s, '%s')" % (r.choice(ncols)[0],
                                                     r.choice(self.NUM_TMPL)))
            elif tcols:
                tmpl = r.choice(self.PARSE_TMPL)
                c = r.choice(tcols)[0]
                fn = "to_date" if k == 2 else "to_timestamp"
                cast = "" if k == 2 else "::timestamp"
                exprs.append("%s(to_char(%s, '%s'), '%s')%s" % (fn, c, tmpl, tmpl, cast))
            else:
                exprs.append("to_char(%s, '999')" % r.choice(self.cols(rels, lambda ty: ty == "int"))[0])
            if r.random() < 0.25:  # named arguments (issue 13 point 3)
                ic = self.cols(rels, lambda ty: ty == "int")
                nc = self.cols(rels, lambda ty: ty in ("int", "numeric(10,2)"))
                parts = r.sample(["days => %s" % r.choice(ic)[0], "hours => %s" % r.choice(ic)[0],
                                  "mins => %s" % r.choice(ic)[0], "secs => %s" % r.choice(nc)[0],
                                  "months => %d" % r.randint(-20, 20)], r.randint(1, 3))
                exprs.append("make_interval(%s)::text" % ", ".join(parts))
        return "SELECT %s FROM %s" % (select_list(exprs), t.name)

    def q_recursive(self):  # WITH RECURSIVE (issue 13 point 2)
        r = self.rng
        if r.random() < 0.3:
            a, step = r.randint(-3, 3), r.randint(1, 3)
            return ("WITH RECURSIVE c(n) AS (SELECT %d UNION ALL SELECT n + %d FROM c WHERE n < %d) "
                    "SELECT n AS c0 FROM c" % (a, step, a + r.randint(0, 30)))
        ta, tb = r.sample(self.tables, 2) if r.random() < 0.7 else [self.tables[0]] * 2
        union = r.choice(["UNION", "UNION ALL"])
        base = "SELECT k, 0 FROM %s WHERE k IS NOT NULL" % ta.name
        if r.random() < 0.5:
            base += " AND " + self.bool_expr(self.rel(self.tables.index(ta)), 1)
        step = ("SELECT %s.k, r.d + 1 FROM r JOIN %s ON %s.k = r.k + %d WHERE r.d < %d" %
                (tb.name, tb.name, tb.name, r.choice([0, 1, -1]), r.randint(1, 4)))
        sel = r.choice(["SELECT k AS c0, d AS c1 FROM r",
                        "SELECT count(*) AS c0, sum(d) AS c1, count(DISTINCT k) AS c2 FROM r",
                        "SELECT d AS c0, count(*) AS c1 FROM r GROUP BY d"])
        return "WITH RECURSIVE r(k, d) AS (%s %s %s) %s" % (base, union, step, sel)

    def query(self):
        kinds = [("expr", self.q_expr, 3), ("join", self.q_join, 2), ("agg", self.q_agg, 3),
                 ("subquery", self.q_subquery, 2), ("setop", self.q_setop, 1),
                 ("distinct", self.q_distinct, 1), ("window", self.q_window, 3),
                 ("grouping", self.q_grouping, 1), ("series", self.q_series, 1),
                 ("fmt", self.q_fmt, 2), ("recursive", self.q_recursive, 1)]
        kinds = [k for k in kinds if k[0] in self.features or k[0] in
                 ("expr", "join", "agg", "subquery", "setop", "distinct")]
        total = sum(w for _, _, w in kinds)
        x = self.rng.uniform(0, total)
        for name, fn, w in kinds:
            if x < w:
                return name, fn()
            x -= w
        return kinds[-1][0], kinds[-1][1]()


def is_fully_ordered(q):
    # the generator only emits ORDER BY 1..n over the whole select list, or DISTINCT ON
    return " ORDER BY 1" in q and "OVER (" not in q.split(" ORDER BY 1")[-1]


# ---------------------------------------------------------------- running

MARK = "__tb_difftest_mark_"


def run_tributary(binary, setup, queries, timeout):
    """Returns a list of (ok, rows|message) per query, index-aligned."""
    results = [None] * len(queries)
    start = 0
    while start < len(queries):
        script = ["\\mode json"]
        script += [s + ";" for s in setup]
        script.append("SELECT '%ssetup' AS m;" % MARK)
        for i in range(start, len(queries)):
            script.append(queries[i] + ";")
            script.append("SELECT '%s%d' AS m;" % (MARK, i))
        try:
            p = subprocess.run([binary], input="\n".join(script) + "\n",
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=timeout, errors="replace")
            out = p.stdout
            crashed = p.returncode not in (0, 1)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            crashed = True
        lines = out.split("\n")
        cur = []
        seen_setup = False
        last = start - 1
        for ln in lines:
            if ln.startswith('{"m":"%s' % MARK):
                tag = json.loads(ln)["m"][len(MARK):]
                if tag == "setup":
                    if any(x.startswith("ERROR") for x in cur):
                        raise RuntimeError("tributary setup failed:\n" + "\n".join(cur))
                    seen_setup = True
                else:
                    idx = int(tag)
                    results[idx] = parse_tb(cur)
                    last = idx
                cur = []
                continue
            cur.append(ln)
        if not seen_setup:
            raise RuntimeError("tributary setup failed:\n" + out[-2000:])
        if last == len(queries) - 1:
            break
        # the query after the last marker killed (or hung) the process
        bad = last + 1
        results[bad] = (False, "CRASH/TIMEOUT: " + "\n".join(cur)[-1500:])
        start = bad + 1
    return results


def parse_tb(lines):
    rows = []
    err = []
    for ln in lines:
        if ln.startswith("{"):
            try:
                obj = json.loads(ln, parse_float=Decimal, object_pairs_hook=list)
            except ValueError:
                err.append(ln)
                continue
            rows.append([v for _, v in obj])
        elif ln.strip():
            err.append(ln)
    if err and any(e.startswith("ERROR") for e in err):
        return (False, "\n".join(err))
    return (True, rows)


def unsupported(msg):
    """A missing feature rather than a wrong answer: our own 'not supported' messages and
    unknown functions (PostgreSQL answered, so the function exists there)."""
    first = msg.split("\n")[0]
    if "CRASH" in first or "NO ANSWER" in first:
        return False
    return "not supported" in first or ("function " in first and "does not exist" in first)


PG_NUMERIC_OIDS = {20, 21, 23, 700, 701, 1700}


def run_pg(conn, query):
    cur = conn.cursor()
    try:
        cur.execute(query)
        oids = [d.type_code for d in cur.description]
        rows = []
        for row in cur.fetchall():
            out = []
            for v, oid in zip(row, oids):
                if v is None:
                    out.append(None)
                elif oid == 16:
                    out.append(v == "t")
                elif oid in PG_NUMERIC_OIDS:
                    out.append(Decimal(v))
                else:
                    out.append(v)
            rows.append(out)
        return (True, rows)
    except psycopg2.Error as e:
        return (False, str(e).strip())
    finally:
        cur.close()


def canon(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, Decimal)):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, str) and v in ("Infinity", "-Infinity", "NaN"):
        return Decimal(v)
    if isinstance(v, list):
        return json.dumps(v)
    return v


def decimals(d):
    e = d.normalize().as_tuple().exponent
    return max(0, -e) if isinstance(e, int) else 0


def num_eq(a, b):
    if a == b or (a.is_nan() and b.is_nan()):
        return True
    if not a.is_finite() or not b.is_finite():
        return False
    da, db = decimals(a), decimals(b)
    if da != db:
        lo = min(da, db)
        q = Decimal(1).scaleb(-lo)
        if a.quantize(q, rounding=decimal.ROUND_HALF_UP) == b.quantize(q, rounding=decimal.ROUND_HALF_UP):
            return True
    m = max(abs(a), abs(b))
    return abs(a - b) <= m * Decimal("1e-9")


def val_eq(a, b):
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return num_eq(a, b)
    if isinstance(a, Decimal) and isinstance(b, str) or isinstance(b, Decimal) and isinstance(a, str):
        try:
            return num_eq(Decimal(a) if isinstance(a, str) else a, Decimal(b) if isinstance(b, str) else b)
        except decimal.InvalidOperation:
            return False
    return type(a) == type(b) and a == b


def sort_key(row):
    key = []
    for v in row:
        if v is None:
            key.append((0, ""))
        elif isinstance(v, bool):
            key.append((1, str(v)))
        elif isinstance(v, Decimal):
            # exact order: approximate equality (1e-9) only matters when the two sides'
            # values straddle a third row's value, which then shows as a disagreement
            key.append((2, v) if not v.is_nan() else (3, "NaN"))
        else:
            key.append((4, str(v)))
    return key


def compare(tb_rows, pg_rows, ordered):
    a = [[canon(v) for v in r] for r in tb_rows]
    b = [[canon(v) for v in r] for r in pg_rows]
    if len(a) != len(b):
        return "row count %d (tributary) vs %d (postgres)" % (len(a), len(b))
    if not ordered:
        a.sort(key=sort_key)
        b.sort(key=sort_key)
    for i, (ra, rb) in enumerate(zip(a, b)):
        if len(ra) != len(rb) or not all(val_eq(x, y) for x, y in zip(ra, rb)):
            return "row %d: %r (tributary) vs %r (postgres)" % (i, ra, rb)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tributary", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4, help="schemas (each with its own data)")
    ap.add_argument("--queries", type=int, default=50, help="queries per schema")
    ap.add_argument("--features", default="expr,join,agg,subquery,setop,distinct,window",
                    help="comma list; also grouping, aggx, distinct_on")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--show", type=int, default=20, help="disagreements printed in full")
    ap.add_argument("--quiet-unsupported", action="store_true")
    args = ap.parse_args()

    raw = psycopg2.extensions.new_type(tuple(range(1, 100000)), "RAW", lambda v, c: v)
    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True
    psycopg2.extensions.register_type(raw, conn)
    cur = conn.cursor()
    cur.execute("SET statement_timeout = '10s'")
    cur.execute("SET TIME ZONE 'UTC'")
    cur.close()

    features = set(args.features.split(","))
    stats = {"queries": 0, "agree": 0, "both_error": 0, "unsupported": 0, "disagree": 0}
    per_kind = {}
    shown = 0
    t0 = time.time()
    for rnd in range(args.rounds):
        rng = random.Random(args.seed * 1000003 + rnd)
        tables, setup = gen_schema(rng)
        c = conn.cursor()
        for t in tables:
            c.execute("DROP TABLE IF EXISTS %s" % t.name)
        for s in setup:
            c.execute(s)
        c.close()
        qg = QueryGen(rng, tables, features)
        qs = [qg.query() for _ in range(args.queries)]
        tb_res = run_tributary(args.tributary, setup, [q for _, q in qs], args.timeout)
        setup_shown = False
        for (kind, q), tbr in zip(qs, tb_res):
            if tbr is None:
                tbr = (False, "NO ANSWER: the marker after this query never came")
            pgr = run_pg(conn, q)
            stats["queries"] += 1
            ks = per_kind.setdefault(kind, {"queries": 0, "agree": 0, "unsupported": 0,
                                            "disagree": 0})
            ks["queries"] += 1
            why = None
            if tbr[0] and pgr[0]:
                why = compare(tbr[1], pgr[1], is_fully_ordered(q))
                if why is None:
                    stats["agree"] += 1
                    ks["agree"] += 1
                    continue
            elif not tbr[0] and not pgr[0]:
                stats["both_error"] += 1
                ks["agree"] += 1
                continue
            elif not tbr[0] and pgr[0] and unsupported(tbr[1]):
                stats["unsupported"] += 1
                ks["unsupported"] += 1
                if not args.quiet_unsupported:
                    print("unsupported [%s]: %s\n    %s" % (kind, q, tbr[1].split("\n")[0]))
                continue
            elif not tbr[0]:
                why = "tributary error, postgres answers %d rows: %s" % (len(pgr[1]), tbr[1])
            else:
                why = "postgres error, tributary answers %d rows: %s" % (len(tbr[1]), pgr[1])
            stats["disagree"] += 1
            ks["disagree"] += 1
            if shown < args.show:
                shown += 1
                print("=" * 70)
                print("DISAGREEMENT [%s] seed %d round %d" % (kind, args.seed, rnd))
                if not setup_shown:
                    print("-- setup (seed %d round %d):" % (args.seed, rnd))
                    for s in setup:
                        print(s + ";")
                    setup_shown = True
                print("-- query:\n" + q + ";")
                print("-- " + why.replace("\n", "\n-- "))
    dt = time.time() - t0
    print("difftest: seed %d, %d schemas, %d queries in %.1f s: %d agree (%d of them errors on "
          "both sides), %d unsupported by tributary, %d disagreements" % (
              args.seed, args.rounds, stats["queries"], dt, stats["agree"] + stats["both_error"],
              stats["both_error"], stats["unsupported"], stats["disagree"]))
    for k in sorted(per_kind):
        v = per_kind[k]
        print("  %-9s %4d queries, %4d agree, %3d unsupported, %3d disagree" % (
            k, v["queries"], v["agree"], v["unsupported"], v["disagree"]))
    return 1 if stats["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
