-- tests/run_badinput.sh: --memory-limit. One group per sale: the state grows with the
-- input until the limit stops the job (the batch stays uncommitted).
CREATE TABLE sales (sale_id int, product_id int, quantity int, ts timestamp)
  WITH (connector = 'files', format = 'csv', path = '${DATA}/sales',
        max_files_per_trigger = 1);
CREATE MATERIALIZED VIEW per_sale AS
  SELECT sale_id, sum(quantity) AS quantity FROM sales GROUP BY sale_id;
