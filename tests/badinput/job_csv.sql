-- tests/run_badinput.sh: a CSV stream over ${DATA}/in with the mode under test; the
-- malformed records go to ${DATA}/bad (bad_records_path), every row to the view.
CREATE TABLE ev (id int, name text, amount bigint, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/in', mode = '${MODE}',
        bad_records_path = '${DATA}/bad', ignore_missing_files = '${IGNMISS}',
        max_line_bytes = '${MAXLINE}');
CREATE MATERIALIZED VIEW ev_rows AS SELECT * FROM ev;
