"""Unit tests of the flux executor's pure pieces: the job index, the merged job log, the parsers
of Flux's answers and the jobspec builder.

``tests/backend/test_flux_executor.py`` drives them through a real instance; these pin their rules
down without one. Only the jobspec builder needs flux-core's Python bindings (not an instance):
its tests are skipped without them and run under ``just test-flux``.
"""

from __future__ import annotations

import base64
import json

import pytest

from flux_restful_server.domain.environment import JobEnvironments
from flux_restful_server.domain.events import JobEvent, OutputLine
from flux_restful_server.domain.owner import Owner
from flux_restful_server.domain.query import JobFilter, Page
from flux_restful_server.domain.request import JobRequest
from flux_restful_server.domain.states import JobResult, JobState
from flux_restful_server.executors.flux._index import JobIndex, jobspec_name, jobspec_user
from flux_restful_server.executors.flux._joblog import JobLog
from flux_restful_server.executors.flux._parse import (
    eventlog_entries,
    node_info,
    output_lines,
    parse_ranks,
)


def jobspec(user: str | None = None, name: str | None = None, argv=("/bin/sleep", "1")) -> dict:
    system: dict = {}
    if user is not None:
        system["user"] = user
    if name is not None:
        system["job"] = {"name": name}
    return {"attributes": {"system": system}, "tasks": [{"command": list(argv)}]}


def life(index: JobIndex, job_id: int, t: float, *, user="ada", exc=None, status=0) -> None:
    """Feed one job's journal events, from submit to clean."""
    index.apply(job_id, "submit", t, {"urgency": 16}, jobspec(user))
    for name in ("validate", "depend", "priority"):
        index.apply(job_id, name, t, {})
    if exc is not None:
        index.apply(job_id, "exception", t + 1, {"type": exc, "severity": 0})
    else:
        index.apply(job_id, "alloc", t + 1, {})
        index.apply(job_id, "finish", t + 2, {"status": status})
    index.apply(job_id, "clean", t + 3, {})


# -- the job index --------------------------------------------------------------------------------
def test_index_follows_a_job_from_submit_to_its_result():
    index = JobIndex()
    summary, state = index.apply(5, "submit", 10.0, {}, jobspec("ada", "sim"))
    assert summary is not None and state is JobState.NEW
    assert (summary.user, summary.name, summary.t_submit, summary.events) == ("ada", "sim", 10.0, 1)
    assert index.apply(5, "depend", 11.0, {})[1] is JobState.PRIORITY
    assert index.apply(5, "start", 12.0, {})[1] is None  # not a state change
    index.apply(5, "finish", 13.0, {"status": 0})
    summary, state = index.apply(5, "clean", 14.0, {})
    assert state is JobState.INACTIVE and summary.result is JobResult.COMPLETED
    assert summary.events == 5


@pytest.mark.parametrize(
    ("exc", "status", "result"),
    [
        (None, 0, JobResult.COMPLETED),
        (None, 256, JobResult.FAILED),
        ("cancel", 0, JobResult.CANCELED),
        ("timeout", 0, JobResult.TIMEOUT),
        ("exec", 0, JobResult.FAILED),
    ],
)
def test_index_result_follows_the_first_fatal_exception_then_the_status(exc, status, result):
    index = JobIndex()
    life(index, 1, 1.0, exc=exc, status=status)
    assert index.jobs[1].result is result


def test_a_fatal_exception_before_running_moves_the_job_to_cleanup():
    index = JobIndex()
    index.apply(1, "submit", 1.0, {}, jobspec())
    assert index.apply(1, "exception", 2.0, {"type": "cancel", "severity": 0})[1] is (
        JobState.CLEANUP
    )
    assert index.apply(1, "exception", 3.0, {"type": "x", "severity": 1})[1] is None


def test_the_name_comes_from_the_jobspec_as_job_list_derives_it():
    assert jobspec_name(jobspec(name="breakfast")) == "breakfast"
    assert jobspec_name(jobspec(argv=("/usr/bin/python3", "-c", "1"))) == "python3"
    assert jobspec_name(jobspec(argv=("x" * 300,))) == "x" * 256
    assert jobspec_name(None) == ""
    assert jobspec_user(jobspec("ada")) == "ada"
    assert jobspec_user({"attributes": {"system": {"user": 7}}}) is None
    assert jobspec_user(None) is None


def test_a_job_we_submitted_is_known_before_its_journal_events():
    index = JobIndex()
    index.add(9, "ada", "sim")
    summary, _ = index.apply(9, "submit", 5.0, {}, jobspec(None, "other"))
    assert summary is not None
    assert (summary.user, summary.name, summary.t_submit) == ("ada", "other", 5.0)


def test_invalidate_forgets_the_job():
    index = JobIndex()
    life(index, 1, 1.0)
    summary, state = index.apply(1, "invalidate", 9.0, {})
    assert summary is not None and state is None and 1 not in index.jobs


def test_select_filters_and_pages_newest_first():
    index = JobIndex()
    life(index, 1, 1.0, user="ada")
    life(index, 2, 2.0, user="bob", exc="cancel")
    life(index, 3, 3.0, user="ada")
    index.apply(4, "submit", 4.0, {}, jobspec("ada", "running"))
    ids = lambda found: [s.id for s in found]  # noqa: E731
    assert ids(index.select(JobFilter())) == [4, 3, 2, 1]
    assert ids(index.select(JobFilter(owner="ada"))) == [4, 3, 1]
    assert ids(index.select(JobFilter(states=frozenset({JobState.NEW})))) == [4]
    assert ids(index.select(JobFilter(results=frozenset({JobResult.CANCELED})))) == [2]
    assert ids(index.select(JobFilter(name="RUN"))) == [4]  # case-insensitive substring
    assert ids(index.select(JobFilter(since=2.5))) == [4, 3]
    assert ids(index.select(JobFilter(ids=frozenset({1, 3, 99})))) == [3, 1]
    assert ids(index.select(JobFilter(), Page(limit=2, offset=1))) == [3, 2]
    assert ids(index.select(JobFilter(), Page(after=3))) == [2, 1]


def test_a_summary_record_is_there_only_once_submit_was_seen():
    index = JobIndex()
    assert index.add(1, "ada", "sim").record() is None
    life(index, 2, 7.0, user="bob", exc="cancel")
    assert index.jobs[2].record() == {
        "id": 2,
        "state": int(JobState.INACTIVE),
        "result": int(JobResult.CANCELED),
        "name": "sleep",
        "user": "bob",
        "t_submit": 7.0,
    }


# -- parsers --------------------------------------------------------------------------------------
def test_idsets_expand_to_ranks():
    assert parse_ranks("0") == [0]
    assert parse_ranks("0-2,5") == [0, 1, 2, 5]
    assert parse_ranks(3) == [3]
    assert parse_ranks("") == [0]  # Flux always means some rank; rank 0 when it does not say
    assert parse_ranks("x,2") == [2]


def test_data_events_give_lines_per_rank_with_newlines_kept():
    ctx = {"stream": "stdout", "rank": "0-1", "data": "a\nb"}
    assert output_lines("data", ctx) == [
        ("stdout", 0, b"a\n"),
        ("stdout", 0, b"b"),
        ("stdout", 1, b"a\n"),
        ("stdout", 1, b"b"),
    ]


def test_base64_and_repeated_data_and_stderr():
    raw = base64.b64encode(b"\xff\n").decode()
    ctx = {"stream": "stderr", "rank": "2", "data": raw, "encoding": "base64", "repeat": 2}
    assert output_lines("data", ctx) == [("stderr", 2, b"\xff\n"), ("stderr", 2, b"\xff\n")]
    assert output_lines("data", {"rank": "0"}) == []  # an EOF marker carries no data


def test_shell_log_events_read_as_flux_job_attach_prints_them():
    ctx = {"rank": "1", "level": 3, "component": "exec", "message": "no such file"}
    assert output_lines("log", ctx) == [
        ("stderr", 1, b"flux-shell[1]: ERROR: exec: no such file\n")
    ]
    info = output_lines("log", {"rank": 0, "message": "hi"})
    assert info == [("stderr", 0, b"flux-shell[0]: hi\n")]  # level 5 (notice) has no label


def test_headers_and_redirects_give_no_lines():
    assert output_lines("header", {"version": 1}) == []
    assert output_lines("redirect", {"stream": "stdout", "path": "/x"}) == []


def test_eventlog_text_gives_its_entries_skipping_what_is_not_json():
    text = "\n".join([json.dumps({"name": "submit", "timestamp": 1.0, "context": {}}), "{oops", ""])
    assert eventlog_entries(text) == [{"name": "submit", "timestamp": 1.0, "context": {}}]
    assert eventlog_entries(None) == [] and eventlog_entries(b"x") == []


class _Set:
    """The part of a flux ResourceSet that node_info reads."""

    def __init__(self, nodes: dict[int, tuple[str, int, int]]) -> None:
        self.nodes = nodes
        self.ranks = sorted(nodes)
        self.nodelist = [nodes[r][0] for r in self.ranks]
        self.ncores = sum(n[1] for n in nodes.values())
        self.ngpus = sum(n[2] for n in nodes.values())

    def copy_ranks(self, ranks: str) -> _Set:
        return _Set({r: n for r, n in self.nodes.items() if str(r) == ranks})


class _Resources:
    def __init__(self, every: _Set, free: _Set, up: _Set) -> None:
        self.all, self.free, self.up = every, free, up


def test_node_info_gives_each_rank_its_resources_what_is_free_and_whether_it_is_up():
    every = _Set({0: ("node0", 4, 1), 1: ("node1", 4, 0)})
    free = _Set({0: ("node0", 1, 0), 1: ("node1", 4, 0)})
    up = _Set({0: ("node0", 4, 1)})
    nodes = node_info(_Resources(every, free, up))
    assert [(n.name, n.cores, n.gpus, n.cores_free, n.gpus_free, n.up) for n in nodes] == [
        ("node0", 4, 1, 1, 0, True),
        ("node1", 4, 0, 4, 0, False),
    ]


# -- the merged job log ---------------------------------------------------------------------------
def ev(name: str, t: float, **ctx) -> tuple:
    return ("event", name, t, ctx)


def out(t: float, data: str, rank: str = "0") -> tuple:
    return ("output", "data", t, {"stream": "stdout", "rank": rank, "data": data})


def test_a_live_log_numbers_entries_as_they_arrive_and_tracks_the_state():
    jl = JobLog(1, "ada", ordered=False)
    sub = jl.subscribe()
    for raw in (ev("submit", 1.0), ev("alloc", 2.0), out(2.5, "hi\n"), ev("finish", 3.0, status=0)):
        jl.add(raw)
    jl.add(ev("clean", 4.0))
    jl.finish()
    assert [e.seq for e in jl.entries] == [1, 2, 3, 4, 5]
    events = [e for e in jl.entries if isinstance(e, JobEvent)]
    assert [(e.name, e.state, e.user) for e in events] == [
        ("submit", JobState.NEW, "ada"),
        ("alloc", JobState.RUN, "ada"),
        ("finish", JobState.CLEANUP, "ada"),
        ("clean", JobState.INACTIVE, "ada"),
    ]
    line = jl.entries[2]
    assert isinstance(line, OutputLine) and (line.data, line.rank) == (b"hi\n", 0)
    assert (jl.events_seen, jl.events_emitted, jl.done) == (4, 4, True)
    assert sub.closed and len(sub) == 5  # the follower got every entry, then the end


def test_an_inactive_log_is_numbered_by_time_events_first_on_ties_and_clean_last():
    jl = JobLog(1, None, ordered=True)
    # Arrival order differs from time order: the two watches are independent.
    for raw in (
        ev("submit", 1.0),
        ev("clean", 3.0),
        out(2.0, "b\n"),
        ev("start", 2.0),
        out(1.5, "a\n"),
    ):
        jl.add(raw)
    assert jl.entries == []  # nothing is numbered before the log is complete
    jl.finish()
    order = [(e.name if isinstance(e, JobEvent) else e.data) for e in jl.entries]
    assert order == ["submit", b"a\n", "start", b"b\n", "clean"]
    assert [e.seq for e in jl.entries] == [1, 2, 3, 4, 5]


def test_a_late_subscriber_to_a_complete_log_is_closed_at_once():
    jl = JobLog(1, None, ordered=False)
    jl.add(ev("submit", 1.0))
    jl.finish(OSError("gone"))
    sub = jl.subscribe()
    assert sub.closed and not jl.followed
    assert isinstance(jl.error, OSError)


# -- the jobspec builder (needs flux-core's Python bindings) --------------------------------------
def test_the_jobspec_carries_every_request_field():
    pytest.importorskip("flux.job", reason="flux-core's Python bindings are not importable")
    from flux_restful_server.executors.flux._jobspec import build_jobspec

    request = JobRequest(
        ("sh", "-c", "echo hi"),
        num_tasks=4,
        cores_per_task=2,
        num_nodes=2,
        exclusive=True,
        option_flags={"cpu-affinity": "off", "verbose": "2"},
        envars={"GREETING": "hello"},
        workdir="/tmp",
        runtime=90,
        name="greet",
        is_launcher=True,
    )
    owner = Owner(user="ada")
    spec = json.loads(
        build_jobspec(
            request,
            owner,
            server_options={"verbose": "0", "output.stdout.type": "kvs"},
            environments=JobEnvironments({"PATH": "/usr/bin", "SECRET": "x"}),
        )
    )
    system = spec["attributes"]["system"]
    assert spec["tasks"][0]["command"] == ["sh", "-c", "echo hi"]
    assert system["cwd"] == "/tmp" and system["duration"] == 90
    assert system["environment"] == {"PATH": "/usr/bin", "GREETING": "hello"}
    assert system["job"]["name"] == "greet" and system["user"] == "ada"
    assert system["flux_restful"] == {"launcher": True}
    # The user's options win over the server's; values are read as JSON when they parse.
    assert system["shell"]["options"]["verbose"] == 2
    assert system["shell"]["options"]["cpu-affinity"] == "off"
    assert system["shell"]["options"]["output"] == {"stdout": {"type": "kvs"}}
    node = spec["resources"][0]
    assert (node["type"], node["count"], node.get("exclusive")) == ("node", 2, True)


def test_a_jobspec_without_a_name_lets_flux_derive_it_and_without_a_workdir_uses_home():
    pytest.importorskip("flux.job", reason="flux-core's Python bindings are not importable")
    from flux_restful_server.executors.flux._jobspec import build_jobspec

    spec = json.loads(
        build_jobspec(
            JobRequest(("/bin/true",)),
            Owner(user=None, home="/home/ada"),
            server_options={},
            environments=JobEnvironments({}),
        )
    )
    system = spec["attributes"]["system"]
    assert "job" not in system and system["cwd"] == "/home/ada"
    assert system["duration"] == 0  # Flux's default: no time limit


def test_a_request_flux_cannot_shape_is_refused_with_its_reason():
    pytest.importorskip("flux.job", reason="flux-core's Python bindings are not importable")
    from flux_restful_server.executors.flux._jobspec import build_jobspec

    with pytest.raises(ValueError, match="exclusive"):
        build_jobspec(
            JobRequest(("true",), exclusive=True),
            Owner(),
            server_options={},
            environments=JobEnvironments({}),
        )
