"""Resources of the respond layer, one class per profile under the same keys.

``llm``: the narrative writer (template locally, Bedrock Converse on AWS, falling back to the
template). ``executor``: the account remediation acts on (a fake account in the lake locally,
boto3 on AWS). ``notifier``: where alerts go (JSON lines + console locally, SNS on AWS).
``workflow``: what a new anomaly starts (nothing extra locally, where the run itself does the
steps; a Step Functions execution named after the anomaly on AWS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource

from egress_platform.rca.narrative import converse_narrative, template_narrative
from egress_platform.remediate.accounts import AccountApi, FakeAccount
from egress_platform.remediate.run import Store

FAKE_ACCOUNT_KEY = "remediation/fake_account.json"


class Llm(ConfigurableResource):
    def narrate(
        self,
        anomaly: dict[str, Any],
        hypotheses: list[dict[str, Any]],
        evidence: list[dict[str, Any]],
    ) -> tuple[dict[str, str], str]:
        return template_narrative(anomaly, hypotheses), "template"


class TemplateLlm(Llm):
    """The local profile: a deterministic narrative from the ranked hypotheses."""


class BedrockLlm(Llm):
    """Bedrock Converse asked for the narrative JSON schema; the template when it fails."""

    model_id: str
    region_name: str = "us-east-1"
    timeout_seconds: int = 30
    max_attempts: int = 3

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            read_timeout=self.timeout_seconds,
            connect_timeout=5,
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
        )
        return boto3.client("bedrock-runtime", region_name=self.region_name, config=config)

    def narrate(
        self,
        anomaly: dict[str, Any],
        hypotheses: list[dict[str, Any]],
        evidence: list[dict[str, Any]],
        client: Any = None,
    ) -> tuple[dict[str, str], str]:
        return converse_narrative(
            client or self.client(), self.model_id, anomaly, hypotheses, evidence
        )


class Executor(ConfigurableResource):
    def account(self, store: Store, resources: dict[str, dict[str, Any]]) -> AccountApi:
        raise NotImplementedError

    def commit(self, store: Store, account: AccountApi) -> None:
        """Persist the account's state after actions ran (only the fake account needs it)."""


class LocalExecutor(Executor):
    """Applies actions to a fake account kept in the lake, seeded from Config items."""

    def account(self, store: Store, resources: dict[str, dict[str, Any]]) -> AccountApi:
        if store.exists(FAKE_ACCOUNT_KEY):
            account = FakeAccount.from_dict(json.loads(store.read(FAKE_ACCOUNT_KEY)))
            seeded = FakeAccount.from_resources(resources)
            # Resources first seen since the account was seeded join it as Config saw them; the
            # tags of every resource are read fresh (a resource tagged egress:protected later is
            # protected now), while rules and policies keep the changes applied to them.
            for name, bucket in seeded.buckets.items():
                account.buckets.setdefault(name, bucket)["tags"] = dict(bucket["tags"])
            for gid, group in seeded.security_groups.items():
                account.security_groups.setdefault(gid, group)["tags"] = dict(group["tags"])
            return account
        return FakeAccount.from_resources(resources)

    def commit(self, store: Store, account: AccountApi) -> None:
        assert isinstance(account, FakeAccount)
        store.write(FAKE_ACCOUNT_KEY, json.dumps(account.to_dict(), sort_keys=True).encode())


class AwsExecutor(Executor):
    region_name: str = "us-east-1"

    def account(self, store: Store, resources: dict[str, dict[str, Any]]) -> AccountApi:
        from egress_platform.remediate.aws_account import Boto3Account

        return Boto3Account.from_session(self.region_name)


class Notifier(ConfigurableResource):
    def publish(self, subject: str, body: str, attributes: dict[str, str]) -> str:
        raise NotImplementedError


class LocalNotifier(Notifier):
    """Appends each alert to a JSON lines file and prints it."""

    path: str
    echo: bool = True

    def publish(self, subject: str, body: str, attributes: dict[str, str]) -> str:
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        message_id = f"local-{attributes['anomaly_id']}-{attributes['state']}"
        line = {
            "message_id": message_id,
            "subject": subject,
            "attributes": attributes,
            "body": json.loads(body),
        }
        with target.open("a") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
        if self.echo:
            print(f"ALERT {subject}")
        return message_id


class SnsNotifier(Notifier):
    topic_arn: str
    region_name: str = "us-east-1"

    def publish(self, subject: str, body: str, attributes: dict[str, str]) -> str:
        import boto3

        sns = boto3.client("sns", region_name=self.region_name)
        answer = sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=body,
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )
        return str(answer["MessageId"])


APPROVAL_TOKENS = "remediation/approval_tokens/"


class Workflow(ConfigurableResource):
    def start(self, anomaly_id: str, payload: dict[str, Any]) -> str:
        """Start the response for one anomaly; starting it again does nothing new."""
        return "in-process"

    def approve(self, action_id: str, store: Store) -> bool:
        """Release a workflow waiting for this approval (True when one was waiting)."""
        return False


class LocalWorkflow(Workflow):
    """The run the sensor requests performs the steps in-process."""


class StepFunctionsWorkflow(Workflow):
    state_machine_arn: str
    region_name: str = "us-east-1"

    def start(self, anomaly_id: str, payload: dict[str, Any]) -> str:
        import boto3

        sfn = boto3.client("stepfunctions", region_name=self.region_name)
        try:
            answer = sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=anomaly_id,
                input=json.dumps(payload, default=str),
            )
            return str(answer["executionArn"])
        except sfn.exceptions.ExecutionAlreadyExists:
            arn = self.state_machine_arn.replace(":stateMachine:", ":execution:")
            return f"{arn}:{anomaly_id}"

    def approve(self, action_id: str, store: Store) -> bool:
        """Send the task token the WaitForApproval step left for this action."""
        import boto3

        key = f"{APPROVAL_TOKENS}{action_id}.json"
        if not store.exists(key):
            return False
        token = json.loads(store.read(key))["task_token"]
        sfn = boto3.client("stepfunctions", region_name=self.region_name)
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": [action_id]}))
        return True


def notifier_path(lake_root: str) -> str:
    return str(Path(lake_root) / "reports" / "alerts.jsonl")
