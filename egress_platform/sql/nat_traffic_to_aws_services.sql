-- S3 and DynamoDB traffic in the same region that goes through a NAT gateway: a gateway VPC
-- endpoint would carry it for free, so the NAT processing cost is the saving.
SELECT
    CAST(hour AS DATE) AS day,
    account_id,
    via_nat_gateway_id AS nat_gateway_id,
    source_id,
    dest_service,
    SUM(billable_bytes) / 1073741824.0 AS gb_processed,
    SUM(estimated_usd) AS nat_processing_usd,
    SUM(estimated_usd) AS saving_with_gateway_endpoint_usd
FROM egress_flows_hourly
WHERE dest_class = 'nat_gateway'
  AND dest_service IN ('S3', 'DYNAMODB')
  AND dest_region = region
GROUP BY CAST(hour AS DATE), account_id, via_nat_gateway_id, source_id, dest_service
