"""The CDK app: one synth (cdk-nag AwsSolutions must pass), then assertions per stack."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="CDK synthesis needs Node")


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from infra_cdk.app import build_app

    app = build_app(
        str(tmp_path_factory.mktemp("cdk.out")),
        context={
            "vpc_ids": ["vpc-0abc123"],
            "sagemaker_endpoint": "true",
            "notebook_subnet_id": "subnet-0abc1234def567890",
            "notebook_security_group_id": "sg-0abc1234def567890",
        },
    )
    assembly = app.synth()  # raises if any cdk-nag finding is not acknowledged
    return {s.stack_name: Template.from_json(s.template) for s in assembly.stacks}


def statements(template: Any) -> list[dict[str, Any]]:
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


UNSCOPED_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "ec2:DescribeSecurityGroups",
}  # fmt: skip


def test_every_stack_synthesizes(templates: dict[str, Any]) -> None:
    assert set(templates) == {
        "EgressDataLake",
        "EgressCatalogEtl",
        "EgressIngestion",
        "EgressMl",
        "EgressObservability",
        "EgressResponse",
    }


def test_lake_buckets_are_encrypted_private_tls_only_and_logged(templates: dict[str, Any]) -> None:
    lake = templates["EgressDataLake"]
    buckets = lake.find_resources("AWS::S3::Bucket")
    # raw, lake (processed + curated), quarantine, athena results, source logs, access logs
    assert len(buckets) == 6
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["LifecycleConfiguration"]["Rules"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        if "AccessLogs" in logical_id or "SourceLogs" in logical_id:
            # S3 server access logs can only be delivered to SSE-S3 buckets.
            assert algorithm == "AES256", logical_id
        else:
            assert algorithm == "aws:kms", logical_id
        if "AccessLogs" not in logical_id:
            assert "LoggingConfiguration" in props
    source_logs = next(b for k, b in buckets.items() if "SourceLogs" in k)["Properties"]
    # CloudFront standard logs are written through ACLs.
    assert source_logs["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}
    ]
    policies = lake.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 6
    for policy in policies.values():
        denies = [
            s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
        ]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
    lake.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_s3_access_logging_may_write_only_its_prefix_of_the_source_log_bucket(
    templates: dict[str, Any],
) -> None:
    ingestion = templates["EgressIngestion"]
    grants = [  # the bucket policy lives with the bucket, in the data lake stack
        s
        for p in templates["EgressDataLake"].find_resources("AWS::S3::BucketPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert len(grants) == 1
    grant = grants[0]
    assert grant["Action"] == "s3:PutObject"
    assert json.dumps(grant["Resource"]).endswith('/s3-access-logs/*"]]}')
    assert "aws:SourceAccount" in grant["Condition"]["StringEquals"]
    outputs = ingestion.to_json()["Outputs"]
    assert {"S3AccessLogTarget", "CloudFrontLogTarget"} <= set(outputs)


def test_no_wildcard_actions_and_star_resources_only_where_aws_requires(
    templates: dict[str, Any],
) -> None:
    for name, template in templates.items():
        for statement in statements(template):
            actions = as_list(statement["Action"])
            assert not any(a == "*" or a.endswith("*") for a in actions), (name, actions)
            if "*" in as_list(statement["Resource"]):
                # Only APIs without resource-level permissions: ECR login, X-Ray traces, log
                # delivery set-up for Step Functions, and describing security groups.
                assert set(actions) <= UNSCOPED_ACTIONS, (name, statement)


def test_glue_job_runs_the_repository_script_with_the_package(templates: dict[str, Any]) -> None:
    etl = templates["EgressCatalogEtl"]
    job = next(iter(etl.find_resources("AWS::Glue::Job").values()))["Properties"]
    assert job["Name"] == "egress-processed-vpc-flows"
    assert job["Command"]["Name"] == "glueetl"
    assert job["GlueVersion"] == "5.0"  # Python 3.11: Glue 4.0's 3.10 cannot import the package
    assert "--extra-py-files" in job["DefaultArguments"]
    assert job["SecurityConfiguration"] == "egress-glue"
    etl.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {"Name": "egress_lake"}})
    etl.resource_count_is("AWS::Glue::Crawler", 1)


def test_athena_workgroup_is_enforced_and_named_queries_are_the_sql_views(
    templates: dict[str, Any],
) -> None:
    from egress_platform.sql import VIEW_NAMES, view_sql

    etl = templates["EgressCatalogEtl"]
    group = next(iter(etl.find_resources("AWS::Athena::WorkGroup").values()))["Properties"]
    config = group["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    queries = {
        q["Properties"]["Name"]: q["Properties"]["QueryString"]
        for q in etl.find_resources("AWS::Athena::NamedQuery").values()
    }
    assert queries == {name: view_sql(name) for name in VIEW_NAMES}


def test_sagemaker_role_is_scoped_to_the_model_prefix(templates: dict[str, Any]) -> None:
    ml = templates["EgressMl"]
    roles = ml.find_resources("AWS::IAM::Role")
    name = next(n for n in roles if n.startswith("SageMakerExecutionRole"))
    principal = roles[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "sagemaker.amazonaws.com"}
    own = [
        p
        for p in ml.find_resources("AWS::IAM::Policy").values()
        if {"Ref": name} in p["Properties"]["Roles"]
    ]
    text = json.dumps([p["Properties"]["PolicyDocument"] for p in own])
    assert "/sagemaker/*" in text and "/lake/*" not in text


def test_make_synth_target_writes_cdk_out() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "synth:" in makefile and "python -m infra_cdk.app" in makefile


def test_failures_alert_through_an_encrypted_topic_with_a_dead_letter_queue(
    templates: dict[str, Any],
) -> None:
    obs = templates["EgressObservability"]
    topic = next(iter(obs.find_resources("AWS::SNS::Topic").values()))["Properties"]
    assert "KmsMasterKeyId" in topic
    policy = next(iter(obs.find_resources("AWS::SNS::TopicPolicy").values()))["Properties"]
    assert any(
        s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["PolicyDocument"]["Statement"]
    )
    rules = obs.find_resources("AWS::Events::Rule")
    sources = sorted(r["Properties"]["EventPattern"]["source"][0] for r in rules.values())
    assert sources == ["aws.glue", "aws.sagemaker"]
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 4
    queue = next(iter(obs.find_resources("AWS::SQS::Queue").values()))["Properties"]
    assert "KmsMasterKeyId" in queue
    obs.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_sources_deliver_to_their_own_prefixes_in_the_recommended_format(
    templates: dict[str, Any],
) -> None:
    from egress_platform.sources.vpc_flow import RECOMMENDED_FORMAT, parse_log_format

    ingestion = templates["EgressIngestion"]
    flow_log = next(iter(ingestion.find_resources("AWS::EC2::FlowLog").values()))["Properties"]
    assert flow_log["ResourceId"] == "vpc-0abc123"
    assert parse_log_format(flow_log["LogFormat"]) == RECOMMENDED_FORMAT  # what the parser reads
    assert flow_log["DestinationOptions"]["PerHourPartition"] is True
    ingestion.has_resource_properties(
        "AWS::CloudTrail::Trail", {"IsMultiRegionTrail": True, "EnableLogFileValidation": True}
    )
    ingestion.has_resource_properties(
        "AWS::CUR::ReportDefinition", {"TimeUnit": "HOURLY", "S3Prefix": "cur"}
    )
    ingestion.resource_count_is("AWS::Config::ConfigurationRecorder", 1)
    lake = templates["EgressDataLake"]
    policy = json.dumps(lake.find_resources("AWS::S3::BucketPolicy"))
    for service in (
        "delivery.logs.amazonaws.com",
        "cloudtrail.amazonaws.com",
        "config.amazonaws.com",
        "billingreports.amazonaws.com",
    ):
        assert service in policy
    assert "aws:SourceAccount" in policy


def test_firehose_partitions_by_source_and_hour_with_the_lake_key(
    templates: dict[str, Any],
) -> None:
    ingestion = templates["EgressIngestion"]
    stream = next(iter(ingestion.find_resources("AWS::KinesisFirehose::DeliveryStream").values()))
    props = stream["Properties"]
    assert props["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "CUSTOMER_MANAGED_CMK"
    s3_config = props["ExtendedS3DestinationConfiguration"]
    assert s3_config["DynamicPartitioningConfiguration"] == {"Enabled": True}
    assert "!{partitionKeyFromQuery:source}" in s3_config["Prefix"]
    assert "!{timestamp:yyyy/MM/dd/HH}" in s3_config["Prefix"]
    assert (
        s3_config["Prefix"].startswith("firehose/") and "errors/" in s3_config["ErrorOutputPrefix"]
    )


def _role_statements(template: Any, role_fragment: str) -> list[dict[str, Any]]:
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if role_fragment in roles:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_remediation_role_holds_exactly_the_catalogs_permissions(templates: dict[str, Any]) -> None:
    from egress_platform.remediate.catalog import executable_permissions

    response = templates["EgressResponse"]
    granted = _role_statements(response, "RemediationRole")
    catalog = [s for s in granted if s.get("Sid", "").startswith("RemediationCatalog")]
    assert sorted(a for s in catalog for a in as_list(s["Action"])) == executable_permissions()
    others = {a for s in granted if s not in catalog for a in as_list(s["Action"])}
    assert not {a for a in others if a.startswith("ec2:")}
    assert {a for a in others if a.startswith("s3:")} <= {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    }


def test_rca_may_invoke_only_the_configured_bedrock_model(templates: dict[str, Any]) -> None:
    from infra_cdk.stacks.response import DEFAULT_MODEL

    granted = _role_statements(templates["EgressResponse"], "RcaRole")
    bedrock = [s for s in granted if any(a.startswith("bedrock:") for a in as_list(s["Action"]))]
    assert [as_list(s["Action"]) for s in bedrock] == [["bedrock:InvokeModel"]]
    assert f"foundation-model/{DEFAULT_MODEL}" in json.dumps(bedrock[0]["Resource"])


def test_state_machine_is_the_tested_asl_file(templates: dict[str, Any]) -> None:
    from infra_cdk.constructs.response_workflow import ASL_PATH, FUNCTION_KEYS

    response = templates["EgressResponse"]
    machine = next(iter(response.find_resources("AWS::StepFunctions::StateMachine").values()))
    props = machine["Properties"]
    assert json.loads(props["DefinitionString"]) == json.loads(ASL_PATH.read_text())
    assert set(props["DefinitionSubstitutions"]) == set(FUNCTION_KEYS)
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_detector_is_a_container_image_of_the_repository(templates: dict[str, Any]) -> None:
    """Dagster and LightGBM exceed a layer: the detector deploys as an image whose Dockerfile
    copies only paths that exist and whose command is the detector handler."""
    import importlib
    import re

    from infra_cdk.constructs.platform_function import REPO
    from infra_cdk.stacks.response import DETECTOR_DOCKERFILE

    functions = templates["EgressResponse"].find_resources("AWS::Lambda::Function")
    detector = next(
        f for f in functions.values() if f["Properties"].get("FunctionName") == "egress-detector"
    )
    assert detector["Properties"]["PackageType"] == "Image"
    assert "Runtime" not in detector["Properties"]
    dockerfile = (REPO / DETECTOR_DOCKERFILE).read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.MULTILINE):
        assert (REPO / source).exists(), source
    command = json.loads(re.search(r"^CMD (\[.*\])", dockerfile, flags=re.MULTILINE).group(1))  # type: ignore[union-attr]
    module, name = command[0].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))


def test_detector_runs_hourly_with_retries_and_a_dead_letter_queue(
    templates: dict[str, Any],
) -> None:
    response = templates["EgressResponse"]
    schedules = {
        s["Properties"]["Name"]: s["Properties"]
        for s in response.find_resources("AWS::Scheduler::Schedule").values()
    }
    schedule = schedules["egress-detector-hourly"]
    assert schedule["ScheduleExpression"] == "cron(15 * * * ? *)"
    target = schedule["Target"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert "DeadLetterConfig" in target
    functions = response.find_resources("AWS::Lambda::Function")
    assert {f["Properties"]["FunctionName"] for f in functions.values()} == {
        "egress-rca",
        "egress-remediation",
        "egress-notify",
        "egress-detector",
    }
    for function in functions.values():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    for group in response.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30
        assert "KmsKeyId" in group["Properties"]


def test_alarms_cover_lambdas_executions_firehose_and_dead_letters(
    templates: dict[str, Any],
) -> None:
    alarms = [
        a["Properties"]
        for name in ("EgressResponse", "EgressObservability")
        for a in templates[name].find_resources("AWS::CloudWatch::Alarm").values()
    ]
    metrics = sorted(f"{a.get('Namespace')}:{a.get('MetricName')}" for a in alarms)
    assert metrics.count("AWS/Lambda:Errors") == 4
    for wanted in ("AWS/States:ExecutionsFailed", "AWS/Firehose:DeliveryToS3.Success"):
        assert wanted in metrics
    assert metrics.count("AWS/SQS:ApproximateNumberOfMessagesVisible") == 2
    for alarm in alarms:
        assert alarm["AlarmActions"], alarm


def test_the_cdk_cli_runs_the_project_environment_and_writes_where_it_is_told() -> None:
    """`cdk synth` from the repository root: cdk.json runs the project's interpreter (the system
    python has no aws_cdk), and `-o DIR` (CDK_OUTDIR) is where the app writes."""
    from infra_cdk.app import synth_outdir

    root = Path(__file__).resolve().parents[2]
    app = json.loads((root / "cdk.json").read_text())["app"]
    assert app.split()[0] == ".venv/bin/python" and app.endswith("-m infra_cdk.app")
    assert synth_outdir({"CDK_OUTDIR": "/tmp/out"}) == "/tmp/out"
    assert synth_outdir({}) == str(root / "cdk.out")


def test_the_readme_counts_the_alarms_the_templates_hold(templates: dict[str, Any]) -> None:
    """The cost at rest in the README is the synthesized templates' own figure."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    said = re.search(r"CloudWatch alarms \(\$0\.10 each per month,\s+(\d+) of them\)", readme)
    assert said, "the README no longer states the alarm count"
    alarms = sum(len(t.find_resources("AWS::CloudWatch::Alarm")) for t in templates.values())
    assert int(said.group(1)) == alarms == 8


def test_every_layer_of_the_asset_graph_has_a_schedule_on_aws(templates: dict[str, Any]) -> None:
    """Issue 19: nothing on AWS scheduled ingestion, the Glue job, pricing, retraining or the
    dashboard. Each layer of the pipeline Lambda (handler.LAYERS) has a schedule that names
    it; every asset a layer materializes exists and takes the partition its clock gives."""
    from datetime import UTC, datetime

    from egress_platform.app.definitions import ALL_ASSETS
    from infra_cdk.constructs.detector.handler import LAYERS, partition_for

    response = templates["EgressResponse"]
    by_layer = {}
    for schedule in response.find_resources("AWS::Scheduler::Schedule").values():
        props = schedule["Properties"]
        event = json.loads(props["Target"]["Input"])
        by_layer[event["layer"]] = props["ScheduleExpression"]
        assert event["time"] == "<aws.scheduler.scheduled-time>"
        assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert by_layer == {
        "ingest": "cron(5 * * * ? *)",
        "detect": "cron(15 * * * ? *)",
        "daily": "cron(45 0 * * ? *)",
    }
    assert set(LAYERS) == set(by_layer)
    partitions = {k.path[-1]: a.partitions_def for a in ALL_ASSETS for k in a.keys}
    when = datetime(2026, 11, 12, 0, 45, tzinfo=UTC)
    layered = set()
    for steps in LAYERS.values():
        for names, clock in steps:
            key = partition_for(clock, when)
            for name in names:
                layered.add(name)
                defined = partitions[name]
                if key is None:
                    assert defined is None, name
                else:
                    assert defined is not None and defined.has_partition_key(key), (name, key)
    # Every asset but the response chain (Step Functions runs it per anomaly) and the audit log
    # (written by the remediation Lambda) is in a layer.
    assert set(partitions) - layered == {
        "rca_reports",
        "remediation_actions",
        "remediation_audit_log",
        "egress_alerts",
    }
    crawler = next(
        iter(templates["EgressCatalogEtl"].find_resources("AWS::Glue::Crawler").values())
    )
    assert crawler["Properties"]["Schedule"] == {"ScheduleExpression": "cron(20 * * * ? *)"}
    job = next(iter(templates["EgressCatalogEtl"].find_resources("AWS::Glue::Job").values()))
    assert job["Properties"]["GlueVersion"] == "5.0"


def test_the_pipeline_may_call_the_glue_job_training_and_only_pass_the_training_role(
    templates: dict[str, Any],
) -> None:
    found = {
        s.get("Sid"): s
        for s in statements(templates["EgressResponse"])
        if s.get("Sid")
        in ("GlueFlowsJob", "SageMakerTraining", "SageMakerEndpoint", "PassTrainingRole")
    }
    assert set(found) == {
        "GlueFlowsJob",
        "SageMakerTraining",
        "SageMakerEndpoint",
        "PassTrainingRole",
    }
    assert as_list(found["PassTrainingRole"]["Action"]) == ["iam:PassRole"]
    assert "*" not in json.dumps(found["PassTrainingRole"]["Resource"])
    assert "egress-processed-vpc-flows" in json.dumps(found["GlueFlowsJob"]["Resource"])
    functions = templates["EgressResponse"].find_resources("AWS::Lambda::Function")
    pipeline = next(
        f for f in functions.values() if f["Properties"].get("FunctionName") == "egress-detector"
    )
    env = pipeline["Properties"]["Environment"]["Variables"]
    assert env["EGRESS_GLUE_FLOWS_JOB"] == "egress-processed-vpc-flows"
    assert env["EGRESS_SAGEMAKER_ENDPOINT"] == "egress-detector"
    assert "EGRESS_SAGEMAKER_ROLE_ARN" in env and "EGRESS_RAW_BUCKET" in env


def test_the_scorer_s_endpoint_is_serverless_encrypted_and_serves_the_stable_artifact(
    templates: dict[str, Any],
) -> None:
    ml = templates["EgressMl"]
    endpoint = next(iter(ml.find_resources("AWS::SageMaker::Endpoint").values()))
    assert endpoint["Properties"]["EndpointName"] == "egress-detector"
    config = next(iter(ml.find_resources("AWS::SageMaker::EndpointConfig").values()))
    assert "KmsKeyId" in config["Properties"]
    assert "ServerlessConfig" in config["Properties"]["ProductionVariants"][0]
    model = next(iter(ml.find_resources("AWS::SageMaker::Model").values()))
    container = model["Properties"]["PrimaryContainer"]
    assert container["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py"}
    assert "sagemaker/endpoint/model.tar.gz" in json.dumps(container["ModelDataUrl"])


def test_the_exploration_notebook_is_private_encrypted_and_reads_only_the_lake(
    templates: dict[str, Any],
) -> None:
    ml = templates["EgressMl"]
    notebook = next(iter(ml.find_resources("AWS::SageMaker::NotebookInstance").values()))
    props = notebook["Properties"]
    assert props["DirectInternetAccess"] == "Disabled" and props["RootAccess"] == "Disabled"
    assert props["SubnetId"] == "subnet-0abc1234def567890" and "KmsKeyId" in props
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in ml.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    actions = {
        a
        for p in policies
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        for a in as_list(st["Action"])
    }
    assert not any(a.startswith("s3:Put") or a.startswith("s3:Delete") for a in actions)
