-- tests/run_badinput.sh: a Parquet stream over ${DATA}/in (columns matched by name).
CREATE TABLE pq (product_id int, category text)
  WITH (connector = 'files', format = 'parquet', path = '${DATA}/in');
CREATE MATERIALIZED VIEW pq_rows AS SELECT * FROM pq;
