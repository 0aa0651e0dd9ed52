-- Test job (tests/run_stream_json.sh, bad input): a JSON lines stream in the mode under
-- test, every row kept in a view; bad lines go to ${DATA}/bad.
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'json', path = '${DATA}/sales', mode = '${MODE}',
        bad_records_path = '${DATA}/bad', max_line_bytes = '${MAXLINE}');
CREATE MATERIALIZED VIEW sales_rows AS SELECT * FROM sales;
