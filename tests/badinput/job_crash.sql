-- tests/run_crash.sh: the reference job in three continuous queries over one directory,
-- each with its own checkpoint, killed with SIGKILL at random moments and restarted.
--   sales_by_category     complete mode, view + Delta table rewritten every batch
--   raw_rows              every raw row: a view (rebuilt at restart) and a Delta table
--   sales_wm_by_category  watermark 'ts - 15 seconds': final windows appended to Delta
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
CREATE TABLE out_complete (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/out_complete', output_mode = 'complete');
INSERT INTO out_complete SELECT * FROM sales_by_category;

CREATE MATERIALIZED VIEW raw_rows AS SELECT sale_id, product_id, quantity, ts FROM sales;
CREATE TABLE out_raw (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'delta', path = '${DATA}/out_raw');
INSERT INTO out_raw SELECT * FROM raw_rows;

CREATE MATERIALIZED VIEW sales_wm_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales_wm JOIN products USING (product_id)
  GROUP BY 1, 2;
CREATE TABLE out_append (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/out_append', output_mode = 'append');
INSERT INTO out_append SELECT * FROM sales_wm_by_category;

-- Cascades (issue 9): views over the streaming views, maintained after every batch and
-- rebuilt from them at restart (each as of the same batch as the views it reads).
CREATE MATERIALIZED VIEW per_category AS
  SELECT category, sum(total_quantity) AS q FROM sales_by_category GROUP BY 1;
CREATE VIEW big_rows AS SELECT * FROM raw_rows WHERE quantity > 3;
CREATE MATERIALIZED VIEW big_by_product AS
  SELECT product_id, count(*) AS n, sum(quantity) AS q FROM big_rows GROUP BY 1;
-- a row-by-row cascade over the append-only view: fed the rows each batch appends
CREATE MATERIALIZED VIEW big_raw AS SELECT sale_id, quantity FROM big_rows;
