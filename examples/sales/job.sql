-- The reference job (README "The reference job"): sales CSV files landing in a
-- directory, joined with a static product table, summed per 10-second window of event
-- time and per category, kept in a materialized view (memory) and a Delta table.
-- ${DATA} is set by `tributary run --set DATA=...` (demo.sh uses data/).

-- Static dimension table: Parquet.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');

-- The stream: every new CSV file in ${DATA}/sales (writers rename files into place).
-- Rows more than 10 seconds older than the newest event time seen are late.
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        watermark = 'ts - 10 seconds');

-- Continuously maintained; queryable by name at any time.
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start,
         category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;

-- Final windows (closed by the watermark) are appended to a Delta table, once each.
CREATE TABLE sales_history (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/output/sales_by_category');

INSERT INTO sales_history SELECT * FROM sales_by_category;

-- Historical (Delta: final windows) and live (the view's still-open windows) together.
CREATE VIEW all_sales AS
  SELECT window_start, category, total_quantity
  FROM read_delta('${DATA}/output/sales_by_category')
  UNION ALL
  SELECT window_start, category, total_quantity
  FROM sales_by_category
  WHERE window_start > (SELECT coalesce(max(window_start), TIMESTAMP '1970-01-01')
                        FROM read_delta('${DATA}/output/sales_by_category'));
