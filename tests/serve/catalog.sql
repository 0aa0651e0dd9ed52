-- the catalog the serving tests serve: a table, a view over it
CREATE TABLE sales (sale_id int, category text, quantity bigint, ok boolean, price double precision,
  ts timestamp);
INSERT INTO sales VALUES (1, 'books', 3, true, 1.5, '2024-01-01 10:00:00'),
  (2, 'toys', 5, false, 2.25, '2024-01-01 10:00:05'), (3, 'books', 2, NULL, NULL, NULL);
CREATE VIEW totals AS SELECT category, sum(quantity) AS total_quantity FROM sales GROUP BY 1;
