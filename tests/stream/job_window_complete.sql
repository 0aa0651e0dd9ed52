-- Test job: sliding windows (hop in FROM) over a stream joined with a static table, no
-- watermark: the view in complete mode, a Delta sink in complete mode, a files sink in
-- update mode (rows changed per batch).
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales');
CREATE MATERIALIZED VIEW sliding AS
  SELECT window_start, window_end, category, sum(quantity) AS total_quantity
  FROM hop(sales, ts, INTERVAL '5 seconds', INTERVAL '10 seconds') JOIN products USING (product_id)
  GROUP BY 1, 2, 3;
CREATE TABLE out_delta (window_start timestamp, window_end timestamp, category text,
                        total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/out', output_mode = 'complete');
INSERT INTO out_delta SELECT * FROM sliding;
CREATE TABLE out_updates ()
  WITH (connector = 'files', path = '${DATA}/updates', format = 'csv', output_mode = 'update');
INSERT INTO out_updates SELECT * FROM sliding;
