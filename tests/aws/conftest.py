"""A real moto server per module, with the aws profile's environment pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state in-process: start every module from an empty account.
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    patch = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "EGRESS_RAW_BUCKET": "acme-egress-landing",
        "EGRESS_LAKE_BUCKET": "acme-egress-lake",
        # Step Functions inside moto calls Lambda and friends back on this port.
        "MOTO_PORT": str(port),
    }.items():
        patch.setenv(key, value)
    yield endpoint
    patch.undo()
    server.stop()
