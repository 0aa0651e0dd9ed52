-- bench (d): the streaming part of the reference job (examples/sales/job.sql) without its
-- Delta sink: sales CSV files landing in ${DIR}, joined with products, summed per
-- 10-second window and category into a materialized view. ${MAXF} is
-- max_files_per_trigger (1: one batch per file, as the DuckDB peer's one query per file;
-- 0: no limit, a batch takes every file present).
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
