"""``flux-restful-cli shell`` in a real terminal: IPython with client and aclient."""

from __future__ import annotations

import pexpect

from tests.cli.conftest import cli_command


def test_ipython_shell_with_client_and_top_level_await(cli, tmp_path):
    env = {**cli.env, "IPYTHONDIR": str(tmp_path / "ipython"), "TERM": "dumb"}
    command, *args = cli_command()
    child = pexpect.spawn(
        command, [*args, "shell"], env=env, encoding="utf-8", timeout=30, dimensions=(40, 200)
    )
    try:
        child.expect("Flux RESTful shell connected to")
        child.expect(r"In \[1\]")
        child.sendline("job = client.submit('true')['id']; print('submitted', job > 0)")
        child.expect("submitted True")
        child.sendline("print('async', sorted(await aclient.list_nodes()))")
        child.expect(r"async \['nodes'\]")
        # the same AsyncClient keeps working in a later cell (one event loop across cells)
        child.sendline("print('again', job in [j['id'] for j in (await aclient.jobs())['jobs']])")
        child.expect("again True")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_python_fallback_shell(cli):
    command, *args = cli_command()
    child = pexpect.spawn(
        command, [*args, "shell", "-i", "python"], env=cli.env, encoding="utf-8", timeout=30
    )
    try:
        child.expect("client")
        child.expect(">>> ")
        child.sendline("print(sorted(client.list_nodes()))")
        child.expect(r"\['nodes'\]")
        child.sendline("exit()")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
