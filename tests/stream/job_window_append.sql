-- Test job: windows finalised by the watermark and appended once each to Delta: sliding
-- windows (hop, 10 s every 4 s: size not a multiple of the slide) and tumbling windows
-- (tumble in FROM), both over the same stream.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        watermark = 'ts - 5 seconds');
CREATE MATERIALIZED VIEW sliding AS
  SELECT window_start, window_end, category, sum(quantity) AS total_quantity
  FROM hop(sales, ts, INTERVAL '4 seconds', INTERVAL '10 seconds') JOIN products USING (product_id)
  GROUP BY 1, 2, 3;
CREATE TABLE out_sliding (window_start timestamp, window_end timestamp, category text,
                          total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/out_sliding', output_mode = 'append');
INSERT INTO out_sliding SELECT * FROM sliding;
CREATE MATERIALIZED VIEW tumbling AS
  SELECT window_end, category, count(*) AS n, sum(quantity) AS total_quantity
  FROM tumble(sales, ts, INTERVAL '10 seconds') s JOIN products p USING (product_id)
  GROUP BY window_end, category;
CREATE TABLE out_tumbling ()
  WITH (connector = 'delta', path = '${DATA}/out_tumbling');
INSERT INTO out_tumbling SELECT * FROM tumbling;
