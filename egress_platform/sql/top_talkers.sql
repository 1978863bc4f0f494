-- Entities ranked by estimated transfer cost over everything in the table.
SELECT
    source_type,
    source_id,
    dest_class,
    SUM(bytes_out) / 1073741824.0 AS gb_out,
    SUM(estimated_usd) AS estimated_usd,
    RANK() OVER (ORDER BY SUM(estimated_usd) DESC) AS cost_rank
FROM egress_flows_hourly
GROUP BY source_type, source_id, dest_class
