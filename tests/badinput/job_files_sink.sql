-- tests/run_badinput.sh: every sales row appended to a files sink at ${OUT} (CSV parts;
-- sink failures: an unwritable path, a full disk).
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales');
CREATE TABLE out_files () WITH (connector = 'files', path = '${OUT}', format = 'csv',
  output_mode = 'append');
INSERT INTO out_files SELECT * FROM sales;
