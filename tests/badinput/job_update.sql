-- tests/run_crash.sh: an update-mode console sink across a restart (only changed rows).
CREATE TABLE s (k text, v int) WITH (connector = 'files', format = 'csv', path = '${DATA}/in');
CREATE MATERIALIZED VIEW t AS SELECT k, sum(v) AS total FROM s GROUP BY k;
CREATE TABLE out_upd (k text, total bigint)
  WITH (connector = 'console', output_mode = 'update');
INSERT INTO out_upd SELECT * FROM t;
