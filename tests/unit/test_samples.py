"""Every file in ../shared/samples parses with the exact record and quarantine counts.

The counts were checked by hand against the files (see PROVENANCE.md for each file's quirks):
e.g. the transit-gateway docs sample's literal "..." line, the "bogus line", the truncated 31-field
CloudFront record, the invalid-JSON CloudTrail doc, and the GetDimensionValues response are the
only quarantined inputs; digest files, CUR manifests and delivery notifications hold no records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from egress_platform.sources import SOURCES, vpc_flow
from tests.conftest import samples_dir

EXPECTED = [
    ("vpc_flow", "vpc_flow/awsdocs/custom_nat_gateway.log", 6, 0),
    ("vpc_flow", "vpc_flow/awsdocs/custom_v3_tcp_flags.log", 8, 0),
    ("vpc_flow", "vpc_flow/awsdocs/custom_v3_transit_gateway.log", 4, 1),
    ("vpc_flow", "vpc_flow/awsdocs/custom_v5_traffic_path.log", 2, 0),
    ("vpc_flow", "vpc_flow/awsdocs/default_v2_accept_reject.log", 2, 0),
    ("vpc_flow", "vpc_flow/awsdocs/default_v2_icmp_sg_nacl.log", 2, 0),
    ("vpc_flow", "vpc_flow/awsdocs/default_v2_ipv6.log", 1, 0),
    ("vpc_flow", "vpc_flow/awsdocs/default_v2_nodata_skipdata.log", 2, 0),
    ("vpc_flow", "vpc_flow/elastic_beats/accept-reject-traffic.log", 4, 0),
    ("vpc_flow", "vpc_flow/elastic_beats/bad.log", 0, 1),
    ("vpc_flow", "vpc_flow/elastic_beats/custom-nat-gateway.log", 2, 0),
    ("vpc_flow", "vpc_flow/elastic_beats/custom-transit-gateway.log", 0, 1),
    ("vpc_flow", "vpc_flow/elastic_beats/tcp-flag-sequence-skip-data.log", 2, 0),
    ("vpc_flow", "vpc_flow/elastic_integrations/test-ecs-samples.log", 10, 0),
    ("vpc_flow", "vpc_flow/elastic_integrations/test-extra-samples.log", 7, 0),
    ("vpc_flow", "vpc_flow/elastic_integrations/test-tcp-flag-sequence.log", 3, 0),
    ("vpc_flow", "vpc_flow/elastic_integrations/test-tgw-samples.log", 10, 0),
    # Its start, 164000066, is 1975: quarantined as outside the documented range.
    ("vpc_flow", "vpc_flow/elastic_integrations/test-v5-all-fields.log", 0, 1),
    ("vpc_flow", "vpc_flow/elastic_integrations/test-v8-samples.log", 1, 0),
    ("vpc_flow", "vpc_flow/elastic_integrations/test-with-message-field.log", 1, 0),
    # Its third row names protocol 8080 (IANA numbers stop at 255): quarantined.
    ("vpc_flow", "vpc_flow/flowlogs-reader/flows.parquet", 2, 1),
    ("vpc_flow", "vpc_flow/flowlogs-reader/v2_default_records.log", 5, 0),
    ("vpc_flow", "vpc_flow/flowlogs-reader/v3_custom_with_header.log", 2, 0),
    ("vpc_flow", "vpc_flow/flowlogs-reader/v4_custom_with_header.log", 2, 0),
    ("vpc_flow", "vpc_flow/flowlogs-reader/v5_custom_with_header_and_bogus_line.log", 2, 1),
    ("vpc_flow", "vpc_flow/flowlogs-reader/v6_tgw_fields_with_header.log", 1, 0),
    ("cur", "cur/focus/focus_1.0_sample.csv", 1000, 0),
    ("cur", "cur/koku/aws_2022-07-01-alt-columns.csv", 2, 0),
    ("cur", "cur/koku/aws_2023-06-01-not-final.csv", 3, 0),
    ("cur", "cur/koku/aws_2023-06-01.csv", 3, 0),
    ("cur", "cur/koku/test_cur.csv", 19, 0),
    ("cur", "cur/koku/test_cur.csv.gz", 19, 0),
    ("cur", "cur/wa-labs-workload-efficiency/Step1CUR.gz", 7850, 0),
    ("cur", "cur/wa-labs-workshop-cur-parquet/Dec2018-WorkshopCUR-00001.snappy.parquet", 91264, 0),
    ("cur", "cur/wa-labs-workshop-cur-parquet/Nov2018-WorkshopCUR-00001.snappy.parquet", 124340, 0),
    ("cur", "cur/wa-labs-workshop-cur-parquet/Oct2018-WorkshopCUR-00001.snappy.parquet", 119307, 0),
    ("s3_access", "s3_access/awsdocs/LogFormat_example_5_records.log", 5, 0),
    ("s3_access", "s3_access/elastic_beats/test.log", 6, 0),
    ("s3_access", "s3_access/elastic_integrations/test-s3-server-access.log", 10, 0),
    ("cloudfront", "cloudfront/aws-log-parser/cloudfront-multiple.log", 6, 0),
    ("cloudfront", "cloudfront/aws-log-parser/cloudfront-multiple.log.gz", 6, 0),
    ("cloudfront", "cloudfront/aws-log-parser/cloudfront_entry.csv", 1, 0),
    ("cloudfront", "cloudfront/aws-log-parser/cloudfront_entry2.csv", 1, 0),
    ("cloudfront", "cloudfront/aws-log-parser/cloudfront_entry_broken_cookie.csv", 1, 0),
    ("cloudfront", "cloudfront/aws-log-parser/cloudfront_entry_cookie_with_encoding.csv", 1, 0),
    ("cloudfront", "cloudfront/awsdocs/AccessLogs_example_distribution.log", 6, 0),
    ("cloudfront", "cloudfront/elastic_integrations/test-cloudfront.log", 11, 1),
    ("config", "config/aws-config-rdk/AWS_CLOUDFRONT_DISTRIBUTION.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_FlowLog.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_Instance.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_InternetGateway.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_NatGateway.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_NetworkAcl.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_RouteTable.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_VPCPeeringConnection.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_EC2_VPNGateway.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_ELASTICLOADBALANCING_LOADBALANCER.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_NetworkFirewall_RuleGroup.json", 1, 0),
    ("config", "config/aws-config-rdk/AWS_S3_Bucket.json", 1, 0),
    ("config", "config/awsdocs/configuration_history_delivery_notification.json", 0, 0),
    ("config", "config/awsdocs/configuration_snapshot_delivery_notification.json", 0, 0),
    ("config", "config/awsdocs/configuration_snapshot_example.json", 2, 0),
    ("config", "config/awsdocs/sns_notification_example_1.json", 1, 0),
    ("config", "config/awsdocs/sns_notification_example_2.json", 1, 0),
    ("config", "config/awsdocs/sns_notification_example_3.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/amazon_ec2_log_examples_1.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/amazon_ec2_log_examples_2.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/amazon_ec2_log_examples_3.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/cloudtrail_insights_event_log_example_1.json", 2, 0),
    ("cloudtrail", "cloudtrail/awsdocs/digest_file_example_1.json", 0, 0),
    ("cloudtrail", "cloudtrail/awsdocs/digest_file_example_2.json", 0, 0),
    ("cloudtrail", "cloudtrail/awsdocs/error_code_and_message_log_example_1.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/iam_log_examples_1.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/iam_log_examples_2.json", 1, 0),
    ("cloudtrail", "cloudtrail/awsdocs/iam_log_examples_3_INVALID_JSON.json", 0, 1),
    (
        "cloudtrail",
        "cloudtrail/elastic_integrations/test-authorize-security-group-egress-json.log",
        1,
        0,
    ),
    ("cloudtrail", "cloudtrail/elastic_integrations/test-delete-flow-log-json.log", 1, 0),
    (
        "cloudtrail",
        "cloudtrail/otrf_security_datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
        103,
        0,
    ),
    ("cost_explorer", "cost_explorer/aws-cli/get-cost-and-usage.output.json", 6, 0),
    ("cost_explorer", "cost_explorer/aws-cli/get-dimension-values.output.json", 0, 1),
    (
        "cost_explorer",
        "cost_explorer/cloudscape/get-cost-and-usage.monthly-by-service.json",
        160,
        0,
    ),
]


def parse_sample(source: str, path: Path) -> tuple[int, int, int]:
    data = path.read_bytes()
    fields = path.with_suffix(".fields")
    if source == "vpc_flow":
        log_format = vpc_flow.parse_log_format(fields.read_text()) if fields.exists() else None
        result = vpc_flow.parse_bytes(data, str(path), log_format)
    else:
        result = SOURCES[source].parse(data, str(path))
    result.check_accounting()
    return result.records.height, result.quarantined, result.input_records


@pytest.mark.samples
@pytest.mark.parametrize(
    ("source", "relative", "records", "quarantined"), EXPECTED, ids=[e[1] for e in EXPECTED]
)
def test_sample_counts(source: str, relative: str, records: int, quarantined: int) -> None:
    got = parse_sample(source, samples_dir() / relative)
    assert got[:2] == (records, quarantined)
    assert got[0] + got[1] == got[2]


@pytest.mark.samples
def test_every_sample_file_is_covered() -> None:
    root = samples_dir()
    covered = {e[1] for e in EXPECTED}
    data_dirs = [
        "vpc_flow",
        "cur",
        "s3_access",
        "cloudfront",
        "config",
        "cloudtrail",
        "cost_explorer",
    ]
    present = {
        p.relative_to(root).as_posix()
        for d in data_dirs
        for p in (root / d).rglob("*")
        if p.is_file() and p.suffix != ".fields"
    }
    assert present == covered


@pytest.mark.samples
def test_headerless_transit_gateway_record_parses_with_configured_format() -> None:
    root = samples_dir()
    fmt = vpc_flow.parse_log_format(
        (root / "vpc_flow/awsdocs/custom_v3_transit_gateway.fields").read_text()
    )
    path = root / "vpc_flow/elastic_beats/custom-transit-gateway.log"
    result = vpc_flow.parse_bytes(path.read_bytes(), str(path), fmt)
    assert (result.records.height, result.quarantined) == (1, 0)
    assert result.records.row(0, named=True)["tcp_flags"] == 3


@pytest.mark.samples
def test_cur_parquet_months_drift_but_map_to_one_schema() -> None:
    root = samples_dir() / "cur/wa-labs-workshop-cur-parquet"
    frames = [
        SOURCES["cur"].parse(p.read_bytes(), p.name).records for p in sorted(root.glob("*.parquet"))
    ]
    assert len({tuple(f.schema.items()) for f in frames}) == 1
    transfer = frames[0].filter(frames[0]["usage_type"].str.contains("DataTransfer-Out-Bytes"))
    assert transfer.height > 1000
