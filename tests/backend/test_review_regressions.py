"""Regressions found in review of the server core and the local executor."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory

from .conftest import Api


def test_env_passthrough_reaches_jobs(server_factory: ServerFactory) -> None:
    server = server_factory(
        env={"FLUX_JOB_ENV_PASSTHROUGH": "REVIEW_*", "REVIEW_SITE": "here", "OTHER_VAR": "no"},
        args=["--cores-per-node", "2"],
    )
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        api = Api(http)
        job = api.submit(
            command="sh -c 'echo site=${REVIEW_SITE:-unset} other=${OTHER_VAR:-unset}'"
        )
        api.wait_done(job)
        assert api.output(job) == ["site=here other=unset\n"]
