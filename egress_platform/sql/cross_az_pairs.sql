-- Pairs of endpoints talking across availability zones, with both sides' transfer charge.
SELECT
    account_id,
    source_id,
    instance_id,
    dest_prefix AS peer_address,
    dest_az AS peer_az,
    SUM(bytes_out + bytes_in) / 1073741824.0 AS gb_both_ways,
    SUM(estimated_usd) AS estimated_usd
FROM egress_flows_hourly
WHERE dest_class = 'inter_az'
GROUP BY account_id, source_id, instance_id, dest_prefix, dest_az
