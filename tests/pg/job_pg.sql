-- tests/run_pg_sink.sh, tests/run_pg_crash.sh: the reference job with PostgreSQL at both
-- ends: products read from PostgreSQL (static side of the join), results written to
-- PostgreSQL in complete (replace), update (upsert) and append (COPY) modes. The upsert
-- has no key option: its key is the query's group keys (window_start, category).
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'postgres', dsn = '${DSN}', table = 'public.products',
        refresh = '${REFRESH}');

CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        max_files_per_trigger = '${MAXF}');

CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;
CREATE TABLE out_complete (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'postgres', dsn = '${DSN}', table = 'public.out_complete',
        output_mode = 'complete', retries = '${RETRIES}', retry_backoff = '100 ms');
INSERT INTO out_complete SELECT * FROM sales_by_category;

CREATE MATERIALIZED VIEW sales_by_category_u AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity, count(*) AS n
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;
CREATE TABLE out_update (window_start timestamp, category text, total_quantity bigint, n bigint)
  WITH (connector = 'postgres', dsn = '${DSN}', table = 'public.out_update',
        output_mode = 'update', retries = '${RETRIES}', retry_backoff = '100 ms');
INSERT INTO out_update SELECT * FROM sales_by_category_u;

CREATE MATERIALIZED VIEW raw_rows AS SELECT sale_id, product_id, quantity, ts FROM sales;
CREATE TABLE out_raw (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'postgres', dsn = '${DSN}', table = 'out_raw', retries = '${RETRIES}',
        retry_backoff = '100 ms');
INSERT INTO out_raw SELECT * FROM raw_rows;
