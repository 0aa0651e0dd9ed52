SELECT category, sum(total_quantity) AS total_quantity
FROM all_sales
GROUP BY category
ORDER BY total_quantity DESC
