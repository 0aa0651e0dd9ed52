-- The reference job (DESIGN.md) with its sales on a Kafka topic of 4 partitions
-- (tests/run_kafka_stream.sh, examples/kafka): a complete-mode view and Delta table of
-- quantity per 10-second window and category, and every raw row appended to Delta.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'kafka', brokers = '${BROKERS}', topic = 'sales', format = 'csv',
        max_offsets_per_trigger = '${MAXOFF}');
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
