-- Test job: the reference query with a generous watermark (no row is late), the view in
-- complete mode and a Delta sink in complete mode.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        max_files_per_trigger = '${MAXF}');
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;
CREATE TABLE out_delta (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/out', output_mode = 'complete');
INSERT INTO out_delta SELECT * FROM sales_by_category;
