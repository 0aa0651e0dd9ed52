-- tests/run_crash.sh: the reference job's queries with no sink, so their output never
-- leaves the process and their checkpoint records sync when the job is idle (deferred
-- sync), killed with SIGKILL at random moments and restarted.
--   sales_by_category     the reference aggregate (complete view)
--   raw_rows              every raw row (a view rebuilt at restart from the log)
--   sales_wm_by_category  watermark 'ts - 15 seconds': final windows plus open ones
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');

CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        max_files_per_trigger = '${MAXF}');

CREATE TABLE sales_wm (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        max_files_per_trigger = '${MAXF}', watermark = 'ts - 15 seconds');

CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;

CREATE MATERIALIZED VIEW raw_rows AS SELECT sale_id, product_id, quantity, ts FROM sales;

CREATE MATERIALIZED VIEW sales_wm_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales_wm JOIN products USING (product_id)
  GROUP BY 1, 2;
