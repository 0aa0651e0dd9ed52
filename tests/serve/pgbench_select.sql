SELECT category, sum(total_quantity) FROM totals GROUP BY 1 ORDER BY 2 DESC;
