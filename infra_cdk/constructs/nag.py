"""cdk-nag acknowledgements, each with its reason.

Acknowledged through CDK's ``Validations`` API (cdk-nag 3), a rule or one finding at a time
(``AwsSolutions-IAM5[Resource::arn:...]``). Resource ARNs are built from bucket names, not
cross-stack tokens, so each finding can be named before synthesis.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_findings(
    construct: IConstruct, rule: str, reason: str, findings: list[str]
) -> None:
    """Acknowledge each listed finding of ``rule`` (``Action::...`` / ``Resource::...``)."""
    for finding in findings:
        acknowledge(construct, f"{rule}[{finding}]", reason)


def rendered(stack: Stack, text: str) -> str:
    """``text`` as cdk-nag prints it: the account and partition tokens in angle brackets."""
    tokens = (
        (stack.account, "<AWS::AccountId>"),
        (stack.partition, "<AWS::Partition>"),
        (stack.region, "<AWS::Region>"),
    )
    for token, label in tokens:
        if Token.is_unresolved(token):
            text = text.replace(token, label)
    return text
