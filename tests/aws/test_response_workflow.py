"""The response state machine (the ASL file CDK deploys) executed by a moto server.

moto runs the ASL with ``stepfunctions.execute_state_machine``; its Lambda (no Docker) echoes
each task's payload, or answers from a queue the test fills, which is enough to drive every
branch: straight through, the approval wait on a task token, and the failure branch.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import boto3
import pytest
import requests

from egress_platform.respond.steps import STEPS
from infra_cdk.constructs.response_workflow import ASL_PATH, FUNCTION_KEYS
from resources.respond import StepFunctionsWorkflow

ANOMALY = {"anomaly_id": "anom-7c1e2d", "entity": "eni-0a1b2c3d", "dest_class": "internet"}


@pytest.fixture(scope="module")
def sfn(moto_endpoint: str) -> Any:
    answer = requests.post(
        f"{moto_endpoint}/moto-api/config",
        json={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
        timeout=10,
    )
    assert answer.ok
    return boto3.client("stepfunctions", region_name="us-east-1")


def _functions(names: dict[str, str]) -> dict[str, str]:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(
        RoleName=f"fn-{time.monotonic_ns()}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", region_name="us-east-1")
    arns = {}
    for key, name in names.items():
        arns[key] = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handlers.handler",
            Code={"ZipFile": buffer.getvalue()},
        )["FunctionArn"]
    return arns


def _machine(sfn: Any, name: str, arns: dict[str, str]) -> str:
    definition = ASL_PATH.read_text()
    for key, arn in arns.items():
        definition = definition.replace("${" + key + "}", arn)
    role = "arn:aws:iam::123456789012:role/egress-response"
    return str(
        sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
    )


def _finish(sfn: Any, arn: str, until: tuple[str, ...] = ("SUCCEEDED", "FAILED")) -> dict[str, Any]:
    for _ in range(100):
        found: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if found["status"] in until:
            return found
        time.sleep(0.1)
    raise AssertionError(f"execution {arn} still {found['status']}")


def _entered(sfn: Any, arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def test_asl_runs_the_steps_in_order_and_the_sensor_start_is_idempotent(sfn: Any) -> None:
    arns = _functions({k: f"egress-{k.lower()}" for k in FUNCTION_KEYS})
    machine = _machine(sfn, "egress-response", arns)
    workflow = StepFunctionsWorkflow(state_machine_arn=machine)
    first = workflow.start(ANOMALY["anomaly_id"], {"anomaly": ANOMALY})
    assert first.endswith(f":{ANOMALY['anomaly_id']}")
    done = _finish(sfn, first)
    assert done["status"] == "SUCCEEDED", done
    assert _entered(sfn, first) == [
        "GatherEvidence",
        "RootCause",
        "ChooseActions",
        "NeedsApproval",
        "Remediate",
        "Notify",
    ]
    assert [s for s in STEPS if s != "WaitForApproval"] == [
        s for s in _entered(sfn, first) if s != "NeedsApproval"
    ]
    output = json.loads(done["output"])
    assert output["anomaly"] == ANOMALY
    assert output["evidence"]["value"]["step"] == "gather_evidence"  # moto's Lambda echoes
    # The sensor re-evaluating the same anomaly starts nothing new.
    assert workflow.start(ANOMALY["anomaly_id"], {"anomaly": ANOMALY}) == first
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


def _waiting_for_approval(sfn: Any, moto_endpoint: str, name: str) -> tuple[str, dict[str, Any]]:
    """An execution whose ChooseActions says a change needs approval, parked on its task token."""
    arns = _functions({k: f"egress-{name}-{k.lower()}" for k in FUNCTION_KEYS})
    machine = _machine(sfn, f"egress-response-{name}", arns)
    answers = [
        json.dumps({"evidence": []}),
        json.dumps({"recommended": []}),
        json.dumps({"needs_approval": True, "waiting": ["act-1"]}),
    ]
    queued = requests.post(
        f"{moto_endpoint}/moto-api/static/lambda-simple/response",
        json={"results": answers, "region": "us-east-1"},
        timeout=10,
    )
    assert queued.status_code == 201
    run = sfn.start_execution(
        stateMachineArn=machine, name=f"anom-{name}", input=json.dumps({"anomaly": ANOMALY})
    )["executionArn"]
    for _ in range(100):
        if "WaitForApproval" in _entered(sfn, run):
            break
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=run)["events"]
    scheduled = [e for e in events if "taskScheduledEventDetails" in e]
    payload = json.loads(scheduled[-1]["taskScheduledEventDetails"]["parameters"])["Payload"]
    assert payload["step"] == "request_approval"
    assert sfn.describe_execution(executionArn=run)["status"] == "RUNNING"
    return run, payload


def test_approval_waits_on_a_task_token(sfn: Any, moto_endpoint: str) -> None:
    run, payload = _waiting_for_approval(sfn, moto_endpoint, "approve")
    sfn.send_task_success(
        taskToken=payload["task_token"], output=json.dumps({"approved_by": "bob"})
    )
    done = _finish(sfn, run)
    assert done["status"] == "SUCCEEDED"
    assert _entered(sfn, run)[-3:] == ["WaitForApproval", "Remediate", "Notify"]
    assert json.loads(done["output"])["approval"]["value"] == {"approved_by": "bob"}


def test_a_rejected_approval_notifies_without_remediating(sfn: Any, moto_endpoint: str) -> None:
    run, payload = _waiting_for_approval(sfn, moto_endpoint, "reject")
    sfn.send_task_failure(taskToken=payload["task_token"], error="Rejected", cause="not now")
    done = _finish(sfn, run)
    assert done["status"] == "SUCCEEDED"
    assert _entered(sfn, run)[-2:] == ["WaitForApproval", "Notify"]


def test_a_failed_step_still_notifies(sfn: Any, moto_endpoint: str) -> None:
    run, payload = _waiting_for_approval(sfn, moto_endpoint, "fails")
    sfn.send_task_failure(taskToken=payload["task_token"], error="Lambda.Unknown", cause="boom")
    done = _finish(sfn, run)
    assert done["status"] == "FAILED"
    entered = _entered(sfn, run)
    assert entered[-2:] == ["NotifyFailure", "Failed"]
    assert "Remediate" not in entered
