-- Daily egress per account and destination class: GB sent and estimated USD.
SELECT
    CAST(hour AS DATE) AS day,
    account_id,
    dest_class,
    SUM(bytes_out) / 1073741824.0 AS gb_out,
    SUM(billable_bytes) / 1073741824.0 AS billable_gb,
    SUM(estimated_usd) AS estimated_usd
FROM egress_flows_hourly
GROUP BY CAST(hour AS DATE), account_id, dest_class
