-- Test job (tests/run_stream_json.sh): a JSON lines stream joined with a static Parquet
-- table, 10-second windows per category kept in a view; bad lines go to ${DATA}/bad.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'json', path = '${DATA}/sales', mode = '${MODE}',
        bad_records_path = '${DATA}/bad', max_line_bytes = '${MAXLINE}');
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;
