-- tests/run_badinput.sh: every sales row appended to a Delta table at ${OUT} (sink
-- failures: an unwritable path, a full disk).
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales');
CREATE TABLE out_raw (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'delta', path = '${OUT}');
INSERT INTO out_raw SELECT * FROM sales;
