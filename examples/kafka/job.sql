-- The reference job on Kafka (README "Kafka"): sales arrive on a topic as CSV messages
-- (sale_id,product_id,quantity,ts), are joined with the products table, summed per
-- 10-second window and category into a live view, a Delta table, and back into Kafka.
CREATE TABLE products (product_id int, category text)
  WITH (connector = 'parquet', path = '${DATA}/products.parquet');
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp,
                    kafka_partition int, kafka_offset bigint)
  WITH (connector = 'kafka', brokers = '${BROKERS}', topic = '${TOPIC}', format = 'csv',
        starting_offsets = 'earliest', max_offsets_per_trigger = '100000',
        group_id = 'tributary-example', mode = 'permissive',
        bad_records_path = '${DATA}/bad_records');
CREATE MATERIALIZED VIEW sales_by_category AS
  SELECT tumble(ts, INTERVAL '10 seconds') AS window_start, category,
         sum(quantity) AS total_quantity
  FROM sales JOIN products USING (product_id)
  GROUP BY 1, 2;
CREATE TABLE delta_out (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'delta', path = '${DATA}/sales_by_category', output_mode = 'complete');
INSERT INTO delta_out SELECT * FROM sales_by_category;
-- Every batch's changed windows, keyed by category, exactly once (headers tb.query,
-- tb.batch, tb.seq).
CREATE TABLE kafka_out (window_start timestamp, category text, total_quantity bigint)
  WITH (connector = 'kafka', brokers = '${BROKERS}', topic = '${TOPIC}_by_category',
        format = 'json', key = 'category', output_mode = 'update');
INSERT INTO kafka_out SELECT * FROM sales_by_category;
