-- tests/run_kafka_sink.sh: a files stream into two Kafka sinks, exactly once across kills.
--   out_raw   every sale row, CSV, no key (rows spread over the partitions by sequence)
--   out_agg   quantity per category, JSON, complete mode (every batch the whole result),
--             keyed by category (a category always goes to the same partition)
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        max_files_per_trigger = '2');
CREATE TABLE out_raw (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'kafka', brokers = '${BROKERS}', topic = 'out_raw', format = 'csv',
        output_mode = 'append');
INSERT INTO out_raw SELECT sale_id, product_id, quantity, ts FROM sales;
CREATE MATERIALIZED VIEW by_category AS
  SELECT category, sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY category;
CREATE TABLE out_agg (category text, total_quantity bigint)
  WITH (connector = 'kafka', brokers = '${BROKERS}', topic = 'out_agg', format = 'json',
        key = 'category',
        output_mode = 'complete');
INSERT INTO out_agg SELECT * FROM by_category;
