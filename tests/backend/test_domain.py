"""Unit tests of the domain types: the one "can this ever fit" check, the search text, the
job environment and the system-account lookup, which both executors and the API rely on.
"""

from __future__ import annotations

import os
import pwd

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux_restful_server.domain.environment import JobEnvironments, job_environment
from flux_restful_server.domain.errors import SubmitRefused, UnsatisfiableRequest
from flux_restful_server.domain.owner import Owner, system_account
from flux_restful_server.domain.record import search_text
from flux_restful_server.domain.request import JobRequest
from flux_restful_server.domain.resources import ResourceLimits
from flux_restful_server.domain.states import JobResult, JobState
from flux_restful_server.executors.local.resources import Cluster


def req(**fields) -> JobRequest:
    return JobRequest(command=("true",), **fields)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"num_nodes": 3, "num_tasks": 3}, "The server only has 2 nodes, you requested 3"),
        ({"cores_per_task": 5}, "A task needs 5 cores and 0 GPUs; nodes have 4 cores and 0 GPUs"),
        # A task too wide for a node is named as such even when a node count is given.
        ({"cores_per_task": 5, "num_nodes": 1}, "A task needs 5 cores and 0 GPUs"),
        ({"num_tasks": 5, "num_nodes": 1}, "5 tasks per node x 1 cores and 0 GPUs each do not fit"),
        ({"num_tasks": 9}, "9 tasks of 1 cores and 0 GPUs need more than the 2 nodes x 4 cores"),
    ],
)
def test_check_refuses_what_can_never_fit_with_the_reason(fields, reason):
    with pytest.raises(UnsatisfiableRequest, match=reason) as caught:
        ResourceLimits(2, 4, 0).check(req(**fields))
    assert isinstance(caught.value, SubmitRefused)  # the API answers it like any refusal


@pytest.mark.parametrize(
    "fields",
    [
        {"num_tasks": 8},  # every core of both nodes
        {"num_tasks": 4, "num_nodes": 1},  # one full node
        {"num_tasks": 2, "cores_per_task": 4, "num_nodes": 2},
        {"num_tasks": 2, "gpus_per_task": 1},
    ],
)
def test_check_accepts_what_fits_an_idle_machine(fields):
    ResourceLimits(2, 4, 1).check(req(**fields))


@settings(max_examples=400, deadline=None)
@given(
    nodes=st.integers(1, 4),
    cores=st.integers(1, 8),
    gpus=st.integers(0, 2),
    tasks=st.integers(1, 40),
    cpt=st.integers(1, 4),
    gpt=st.integers(0, 2),
    num_nodes=st.one_of(st.none(), st.integers(1, 5)),
)
def test_check_agrees_with_the_local_scheduler_on_an_idle_cluster(
    nodes, cores, gpus, tasks, cpt, gpt, num_nodes
):
    """What check() accepts, first-fit places on an idle cluster; what it refuses, it cannot."""
    if num_nodes is not None and num_nodes > tasks:
        return  # refused earlier, by submit validation
    request = req(num_tasks=tasks, cores_per_task=cpt, gpus_per_task=gpt, num_nodes=num_nodes)
    cluster = Cluster(nodes, cores, gpus, names=[f"n{i}" for i in range(nodes)])
    try:
        cluster.limits().check(request)
    except UnsatisfiableRequest:
        assert cluster.try_allocate(request) is None
    else:
        assert cluster.try_allocate(request) is not None


def test_search_text_holds_the_displayed_fields_lower_cased():
    record = {
        "id": 1234,
        "name": "Sim",
        "state": int(JobState.INACTIVE),
        "result": int(JobResult.CANCELED),
        "user": "Ada",
        "nodelist": "node[0-1]",
        "cwd": "/Home/ada",
        "exception_note": "Cancelled By User",
    }
    text = search_text(record)
    assert text == "1234 sim inactive ada node[0-1] /home/ada cancelled by user canceled"


def test_search_text_of_a_fresh_record_has_no_result_and_no_none():
    text = search_text({"id": 7, "name": "x", "state": int(JobState.SCHED), "user": None})
    assert text.split() == ["7", "x", "sched"]


def test_environment_keeps_the_allowlist_drops_secrets_and_lets_the_user_win():
    server = {
        "PATH": "/usr/bin",
        "LC_ALL": "C",
        "FLUX_TOKEN": "secret",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "MY_TOOL_HOME": "/opt/tool",
    }
    env = job_environment(server, {"PATH": "/mine", "X": "1"}, Owner(), ("MY_*", "FLUX_*"))
    assert env == {"PATH": "/mine", "LC_ALL": "C", "MY_TOOL_HOME": "/opt/tool", "X": "1"}


def test_environment_of_another_account_uses_its_home_and_name_not_the_servers_python():
    server = {"HOME": "/root", "USER": "root", "PYTHONPATH": "/srv", "VIRTUAL_ENV": "/venv"}
    owner = Owner(user="ada", uid=1001, gid=1001, home="/home/ada", login="ada")
    env = job_environment(server, {}, owner)
    assert env == {"HOME": "/home/ada", "USER": "ada", "LOGNAME": "ada"}


_NAMES = st.sampled_from(
    ["PATH", "HOME", "USER", "LC_ALL", "PYTHONPATH", "FLUX_TOKEN", "MY_X", "Z"]
)
_OWNERS = st.sampled_from(
    [Owner(), Owner(user="ada"), Owner(user="bo", uid=1002, gid=1002, home="/h/bo", login="bo")]
)


@given(
    server=st.dictionaries(_NAMES, st.text(max_size=3)),
    jobs=st.lists(st.tuples(st.dictionaries(_NAMES, st.text(max_size=3)), _OWNERS), max_size=5),
)
def test_kept_environments_are_what_job_environment_builds(
    server: dict[str, str], jobs: list[tuple[dict[str, str], Owner]]
) -> None:
    """The per-owner cache of both executors changes nothing, whatever the order of jobs."""
    environments = JobEnvironments(server, ("MY_*",))
    for envars, owner in jobs:
        built = environments.build(envars, owner)
        assert built == job_environment(server, envars, owner, ("MY_*",))
        built["PATH"] = "changed"  # a job's environment is its own: the kept part is not shared
        assert environments.build({}, owner) == job_environment(server, {}, owner, ("MY_*",))


def test_system_account_describes_a_real_account_and_refuses_unknown_names():
    me = pwd.getpwuid(os.getuid())
    owner = system_account(me.pw_name)
    assert owner is not None
    assert (owner.user, owner.uid, owner.gid, owner.login) == (
        me.pw_name,
        me.pw_uid,
        me.pw_gid,
        me.pw_name,
    )
    assert me.pw_gid in owner.groups
    assert system_account("no-such-account-here") is None
    assert system_account("bad\0name") is None
