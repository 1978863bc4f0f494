"""The response workflow: the state machine (from ``state_machine.asl.json``) and its Lambdas.

The ASL file is the single definition: CDK deploys it with the Lambda ARNs substituted, and
the tests execute the same file on a moto server. ``handlers.py`` beside it is the Lambda code;
it calls the steps in ``egress_platform.respond.steps``.
"""

from __future__ import annotations

from pathlib import Path

ASL_PATH = Path(__file__).with_name("state_machine.asl.json")
FUNCTION_KEYS = ("RcaFunctionArn", "RemediationFunctionArn", "NotifyFunctionArn")
