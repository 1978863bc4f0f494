"""The remediation catalog, its policy gates and audit log, and alert delivery, on a fake account."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from egress_platform.remediate.accounts import FakeAccount
from egress_platform.remediate.catalog import (
    Action,
    ActionRegistry,
    actions,
    executable_permissions,
)
from egress_platform.remediate.run import Ledger, Policy, action_id, remediate
from egress_platform.respond.alerts import OUTBOX, SENT, deliver
from resources.storage import LocalStore

SG = "sg-0a1b2c3d4e5f60718"
BUCKET = "acme-exports"
OPEN_22 = {"action": "sg-revoke-open-ingress",
           "params": {"group_id": SG, "protocol": "tcp", "from_port": 22, "to_port": 22,
                      "cidr": "0.0.0.0/0"}}  # fmt: skip
PUBLIC_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        {"Sid": "Analytics", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/a"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
    ],
}  # fmt: skip


def fake(sg_tags: dict[str, str] | None = None) -> FakeAccount:
    return FakeAccount(
        buckets={BUCKET: {"tags": {}, "public_access_block": None, "policy": PUBLIC_POLICY}},
        security_groups={
            SG: {
                "tags": sg_tags or {},
                "ingress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 22,
                        "ToPort": 22,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/16"}],
                        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                    },
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                        "Ipv6Ranges": [],
                    },
                ],
                "egress": [],
            }
        },
    )


def test_every_action_declares_schema_permissions_and_preconditions() -> None:
    for name, action in actions.items():
        assert action.name == name and action.summary
        assert action.schema["type"] == "object" and action.schema["required"]
        assert action.preconditions, action.name
        assert action.risk in ("low", "medium", "high")
        if action.kind == "change":
            assert action.permissions and type(action).apply is not Action.apply, action.name
            assert all(re.fullmatch(r"(s3|ec2):[A-Z][A-Za-z]+", p) for p in action.permissions)
        else:
            assert action.kind == "recommendation" and action.permissions == ()
            with pytest.raises(TypeError, match="made by hand"):
                action.apply(fake(), {})
    assert "ec2:RevokeSecurityGroupIngress" in executable_permissions()
    assert {
        "s3-block-public-access",
        "s3-remove-public-policy-statement",
        "sg-revoke-open-ingress",
        "sg-revoke-open-egress",
        "add-s3-gateway-endpoint",
        "enable-cloudfront-caching",
        "colocate-az",
        "fix-replication-rule",
    } <= set(actions)


ALL_OUT = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": []}
CHANGE_PARAMS = {
    "s3-block-public-access": {"bucket": BUCKET},
    "s3-remove-public-policy-statement": {"bucket": BUCKET},
    "sg-revoke-open-ingress": OPEN_22["params"],
    "sg-revoke-open-egress": {"group_id": SG, "protocol": "-1", "from_port": -1, "to_port": -1,
                              "cidr": "0.0.0.0/0"},
}  # fmt: skip


def test_every_change_action_plans_applies_and_records_its_undo() -> None:
    """The registry's contract, for each change action: a plan with a change and its rollback
    record, apply, and then the plan says there is nothing left to do."""
    assert set(CHANGE_PARAMS) == {n for n, a in actions.items() if a.kind == "change"}
    for name, params in CHANGE_PARAMS.items():
        action, account = actions[name], fake()
        account.security_groups[SG]["egress"] = [dict(ALL_OUT)]
        assert action.validate(params) == [], name
        before = action.plan(account, params)
        assert before.changes and not before.noop, name
        assert before.rollback["call"].startswith(("Put", "Authorize")), name
        action.apply(account, params)
        assert action.plan(account, params).noop, name


def test_an_action_name_registers_once() -> None:
    registry = ActionRegistry()

    @registry.register("twice")
    class First(Action):
        pass

    with pytest.raises(ValueError, match="registered twice"):

        @registry.register("twice")
        class Second(Action):
            pass

    assert list(registry) == ["twice"] and registry["twice"].name == "twice"


def test_revoke_removes_exactly_the_matched_permission(tmp_path: Path) -> None:
    account = fake()
    [row] = remediate(
        "a1", [OPEN_22], account, Policy("auto", "medium"), Ledger(LocalStore(tmp_path))
    )
    assert row["status"] == "applied"
    assert account.security_groups[SG]["ingress"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        },
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [],
        },
    ]
    assert json.loads(row["rollback"])["permission"]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]


def test_dry_run_plans_without_touching_anything(tmp_path: Path) -> None:
    account = fake()
    rows = remediate(
        "a1",
        [OPEN_22, {"action": "s3-block-public-access", "params": {"bucket": BUCKET}}],
        account,
        Policy(),
        Ledger(LocalStore(tmp_path)),
    )
    assert [r["status"] for r in rows] == ["planned", "planned"]
    assert account.calls == []
    assert "revoke ingress tcp 22-22 from 0.0.0.0/0" in rows[0]["detail"]


def test_approval_gate_then_apply_once(tmp_path: Path) -> None:
    account, ledger = fake(), Ledger(LocalStore(tmp_path))
    policy = Policy("approve")
    [waiting] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert waiting["status"] == "awaiting_approval"
    assert f"egress approve {waiting['action_id']}" in waiting["detail"]
    ledger.approve(waiting["action_id"], "alice")
    [applied] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert applied["status"] == "applied"
    [again] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert again["status"] == "applied" and again["detail"].startswith("already applied")
    assert account.calls == [f"RevokeSecurityGroupIngress {SG}"]
    steps = [(e["step"], e["outcome"]) for e in ledger.entries(waiting["action_id"])]
    assert steps == [
        ("plan", "awaiting_approval"),
        ("approve", "approved"),
        ("apply", "started"),
        ("approval", "consumed"),
        ("result", "applied"),
        ("plan", "applied"),
    ]
    remediate("a1", [OPEN_22], account, policy, ledger)
    assert len(ledger.entries(waiting["action_id"])) == len(steps)  # re-runs add nothing


def test_auto_applies_up_to_its_risk_level(tmp_path: Path) -> None:
    account = fake()
    recs = [
        {"action": "s3-block-public-access", "params": {"bucket": BUCKET}},
        {"action": "s3-remove-public-policy-statement", "params": {"bucket": BUCKET}},
    ]
    rows = remediate("a1", recs, account, Policy("auto", "low"), Ledger(LocalStore(tmp_path)))
    assert [r["status"] for r in rows] == ["applied", "awaiting_approval"]
    assert account.buckets[BUCKET]["public_access_block"]["BlockPublicPolicy"] is True
    rows = remediate("a1", recs, account, Policy("auto", "medium"), Ledger(LocalStore(tmp_path)))
    assert [r["status"] for r in rows] == ["applied", "applied"]
    assert account.buckets[BUCKET]["policy"]["Statement"] == [PUBLIC_POLICY["Statement"][1]]


def test_protected_resources_are_never_changed(tmp_path: Path) -> None:
    account = fake({"egress:protected": "true"})
    ledger = Ledger(LocalStore(tmp_path))
    ledger.approve(action_id("a1", OPEN_22["action"], OPEN_22["params"]), "alice")
    [row] = remediate("a1", [OPEN_22], account, Policy("auto", "high"), ledger)
    assert row["status"] == "blocked_protected"
    assert account.calls == []


@pytest.mark.parametrize(
    ("rec", "status"),
    [
        (
            {
                "action": "sg-revoke-open-ingress",
                "params": {**OPEN_22["params"], "cidr": "10.0.0.0/8"},
            },
            "rejected",
        ),
        ({"action": "delete-everything", "params": {}}, "rejected"),
        (
            {"action": "s3-block-public-access", "params": {"bucket": "no-such-bucket"}},
            "precondition_failed",
        ),
        (
            {
                "action": "add-s3-gateway-endpoint",
                "params": {"vpc_id": "vpc-0a1b2c3d", "service": "s3"},
            },
            "recommended",
        ),
    ],
)
def test_bad_or_recommendation_only_requests(
    tmp_path: Path, rec: dict[str, Any], status: str
) -> None:
    account = fake()
    [row] = remediate("a1", [rec], account, Policy("auto", "high"), Ledger(LocalStore(tmp_path)))
    assert row["status"] == status
    assert account.calls == []


def test_alerts_wait_in_the_outbox_until_delivered(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    message = {
        "anomaly_id": "a1",
        "state": "opened",
        "severity": "high",
        "entity": "eni-1",
        "dest_class": "internet",
        "extra_usd_per_hour": 2.5,
    }
    sent: list[tuple[str, str, dict[str, str]]] = []

    def down(subject: str, body: str, attributes: dict[str, str]) -> str:
        raise ConnectionError("endpoint unreachable")

    def up(subject: str, body: str, attributes: dict[str, str]) -> str:
        sent.append((subject, body, attributes))
        return f"m{len(sent)}"

    [failed] = deliver([message], store, down, sleep=lambda _: None)
    assert not failed["delivered"] and "ConnectionError" in failed["error"]
    assert [k for k, _ in store.list(OUTBOX)] == [f"{OUTBOX}a1-opened.json"]
    [retried] = deliver([message], store, up, sleep=lambda _: None)
    assert retried["delivered"] and retried["message_id"] == "m1"
    assert store.list(OUTBOX) == [] and store.exists(f"{SENT}a1-opened.json")
    assert deliver([message], store, up) == []  # deduplicated by anomaly and state
    assert sent[0][2] == {"severity": "high", "state": "opened", "anomaly_id": "a1"}
    assert json.loads(sent[0][1])["entity"] == "eni-1"


def test_a_notifier_that_is_down_costs_one_message_s_retries_per_run_not_every_partition_s(
    tmp_path: Path,
) -> None:
    from egress_platform.respond.alerts import ATTEMPTS, DeliveryBudget

    store, calls, slept = LocalStore(tmp_path), [], []

    def down(subject: str, body: str, attributes: dict[str, str]) -> str:
        calls.append(subject)
        raise ConnectionError("endpoint unreachable")

    budget = DeliveryBudget()
    rows = []
    for hour in range(48):  # one run over 48 hourly partitions, one alert each
        message = {
            "anomaly_id": f"a{hour}",
            "state": "opened",
            "severity": "high",
            "entity": "eni-1",
            "dest_class": "internet",
            "extra_usd_per_hour": 1.0,
        }
        rows += deliver([message], store, down, sleep=slept.append, budget=budget)
    assert len(calls) == ATTEMPTS and len(slept) == ATTEMPTS - 1
    assert len(store.list(OUTBOX)) == 48  # nothing lost: every message waits in the outbox
    assert not any(r["delivered"] for r in rows)
    assert "not tried" in rows[-1]["error"]


def test_protection_is_read_fresh_from_config_not_from_the_first_seen_tags(tmp_path: Path) -> None:
    from resources.respond import LocalExecutor

    store = LocalStore(tmp_path)
    executor = LocalExecutor()
    seen = {
        SG: {
            "type": "AWS::EC2::SecurityGroup",
            "configuration": {"ipPermissions": []},
            "supplementary": {},
            "tags": {},
        }
    }
    executor.commit(store, executor.account(store, seen))  # the fake account is stored
    later = {SG: {**seen[SG], "tags": {"egress:protected": "true"}}}
    account = executor.account(store, later)
    assert account.security_group(SG)["tags"] == {"egress:protected": "true"}


def test_a_mixed_rule_keeps_its_group_and_prefix_list_parts_when_its_cidr_is_revoked() -> None:
    from egress_platform.remediate.accounts import _permission_from_config, remove_ranges

    rule = _permission_from_config(
        {
            "ipProtocol": "tcp",
            "fromPort": 22,
            "toPort": 22,
            "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}],
            "userIdGroupPairs": [{"groupId": "sg-bastion", "userId": "111122223333"}],
            "prefixListIds": [{"prefixListId": "pl-12345678"}],
        }
    )
    assert rule["UserIdGroupPairs"] == [{"GroupId": "sg-bastion", "UserId": "111122223333"}]
    assert rule["PrefixListIds"] == [{"PrefixListId": "pl-12345678"}]
    kept = remove_ranges(
        rule,
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [],
        },
    )
    assert kept is not None and kept["IpRanges"] == [] and kept["UserIdGroupPairs"]


def test_an_approval_is_used_once_a_re_added_rule_needs_a_new_one(tmp_path: Path) -> None:
    account, ledger = fake(), Ledger(LocalStore(tmp_path))
    policy = Policy("approve")
    [waiting] = remediate("a1", [OPEN_22], account, policy, ledger)
    ledger.approve(waiting["action_id"], "alice")
    [applied] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert applied["status"] == "applied"
    account.security_groups[SG]["ingress"] = fake().security_groups[SG]["ingress"]  # re-added
    [again] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert again["status"] == "awaiting_approval"
    assert account.calls == [f"RevokeSecurityGroupIngress {SG}"]  # revoked once, not twice


def test_an_approval_on_a_protected_resource_is_spent_not_kept(tmp_path: Path) -> None:
    account, ledger = fake({"egress:protected": "true"}), Ledger(LocalStore(tmp_path))
    policy = Policy("approve")
    [blocked] = remediate("a1", [OPEN_22], account, policy, ledger)
    ledger.approve(blocked["action_id"], "alice")
    [blocked] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert blocked["status"] == "blocked_protected"
    account.security_groups[SG]["tags"] = {}  # the tag is removed later
    [after] = remediate("a1", [OPEN_22], account, policy, ledger)
    assert after["status"] == "awaiting_approval" and account.calls == []


def test_an_approval_holds_for_the_plan_it_approved_and_expires(tmp_path: Path) -> None:
    from datetime import timedelta

    account, ledger = fake(), Ledger(LocalStore(tmp_path))
    policy = Policy("approve")
    [waiting] = remediate("a1", [OPEN_22], account, policy, ledger)
    aid = waiting["action_id"]
    assert ledger.approved(aid, json.loads(waiting["plan"])) is False
    ledger.approve(aid, "alice", ttl=timedelta(seconds=-1))  # already expired
    assert remediate("a1", [OPEN_22], account, policy, ledger)[0]["status"] == "awaiting_approval"
    ledger.approve(aid, "alice")
    assert ledger.approved(aid, json.loads(waiting["plan"]))
    assert not ledger.approved(aid, ["revoke ingress tcp 22-22 from 10.0.0.0/8 on sg-other"])
    assert account.calls == []
