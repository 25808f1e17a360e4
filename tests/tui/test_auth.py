"""The dashboard against an auth-enabled server: a superuser's "mine/all", a user's own jobs.

The toggle is offered according to ``GET /v1/me``: to superusers only.
"""

from __future__ import annotations

from click.testing import CliRunner

from flux_restful_client import AsyncClient
from flux_restful_server.auth.commands import add_user
from flux_restful_tui import DashboardApp
from tests.conftest import Server, ServerFactory

from .conftest import FAST, until

SIZE = (120, 36)
AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": "notsecrethoo",
}


def auth_server(server_factory: ServerFactory) -> Server:
    server = server_factory(env=AUTH_ENV, args=["--cores-per-node", "4"], start=False)
    result = CliRunner().invoke(
        add_user,
        ["alice", "--password-stdin", "--state-dir", str(server.state_dir)],
        input="alice-pw\n",
    )
    assert result.exit_code == 0, result.output
    return server.start()


def client(server: Server, user: str, password: str) -> AsyncClient:
    return AsyncClient(host=server.url, user=user, token=password, backoff=0.1, attempts=3)


async def test_mine_all_for_the_superuser_and_only_their_own_jobs_for_a_user(server_factory):
    server = auth_server(server_factory)
    async with (
        client(server, "fluxuser", "12345") as root,
        client(server, "alice", "alice-pw") as alice,
    ):
        root_job = await root.submit_job("sleep 30", name="roots")
        alice_job = await alice.submit_job("sleep 30", name="alices")

        app = DashboardApp(root, feed=FAST)
        async with app.run_test(size=SIZE) as pilot:
            table = app.jobs_screen.table
            await until(pilot, lambda: set(table.row_ids()) == {root_job, alice_job})
            await until(pilot, lambda: app.jobs_screen.identity is not None)
            assert app.jobs_screen.identity.superuser
            assert app.jobs_screen.check_action("mine", ()) is True
            await pilot.press("m")  # mine
            assert table.row_ids() == [root_job]
            assert "user fluxuser" in app.jobs_screen.counts.describe
            await pilot.press("m")  # all again
            assert set(table.row_ids()) == {root_job, alice_job}
            assert "user" not in app.jobs_screen.counts.describe

        seen: set[int] = set()

        def saw(job_id: int) -> bool:
            seen.update(app.store.jobs)
            return job_id in app.store.jobs

        app = DashboardApp(alice, feed=FAST)
        async with app.run_test(size=SIZE) as pilot:
            table = app.jobs_screen.table
            await until(pilot, lambda: app.connection == "live" and saw(alice_job))
            assert table.row_ids() == [alice_job]
            # /v1/me says alice is no superuser: no "mine/all" toggle (she sees hers only)
            await until(pilot, lambda: app.jobs_screen.identity is not None)
            assert app.jobs_screen.identity.user == "alice"
            assert app.jobs_screen.check_action("mine", ()) is False
            # live: the superuser's new job never reaches alice's feed; her own does
            root_later = await root.submit_job("true", name="roots-later")
            alice_later = await alice.submit_job("true", name="alices-later")
            await until(pilot, lambda: saw(alice_later))
            await until(pilot, lambda: table.cell(alice_later, "result").strip() == "COMPLETED")
            saw(alice_later)
            await pilot.press("m")
            assert set(table.row_ids()) == {alice_job, alice_later}
            await pilot.press("m")
            assert set(table.row_ids()) == {alice_job, alice_later}
            assert seen.isdisjoint({root_job, root_later})
