-- bench (d), second variant: stream_job.sql plus the reference job's Delta sink (append
-- mode: each closed window written once), i.e. examples/sales/job.sql's pipeline.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${PRODUCTS}');

CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DIR}',
        watermark = 'ts - 10 seconds', max_files_per_trigger = ${MAXF});

CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;

CREATE TABLE sales_history (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'delta', path = '${OUT}/sales_by_category');
INSERT INTO sales_history SELECT * FROM sales_by_category;
