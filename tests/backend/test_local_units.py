"""Unit tests of the local executor's pure pieces: the resource model and the job log format.

The API tests run them through real servers; these pin their rules down directly, including
with generated requests (hypothesis): an allocation never exceeds a node, and releasing it gives
back exactly what it took.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flux_restful_server.domain.errors import UnsatisfiableRequest
from flux_restful_server.domain.events import JobEvent, OutputLine, OutputRun
from flux_restful_server.domain.request import JobRequest
from flux_restful_server.executors.local.joblog import (
    Cursor,
    event_record,
    is_event,
    iter_records,
    iter_slices,
    output_record,
    output_records,
    parse_entries,
    parse_events,
    parse_record,
    read_new,
    read_slice,
    read_some,
)
from flux_restful_server.executors.local.output import LINE_MAX, has_long_line
from flux_restful_server.executors.local.resources import Cluster, hostlist, idset
from flux_restful_server.executors.local.spares import PREFIX, STOCK, SpareFiles


def cluster(nodes: int = 2, cores: int = 4, gpus: int = 0) -> Cluster:
    return Cluster(nodes, cores, gpus, names=[f"node{i}" for i in range(nodes)])


def req(**fields) -> JobRequest:
    return JobRequest(command=("true",), **fields)


def test_first_fit_fills_the_first_node_first_and_spreads_the_rest():
    c = cluster()
    alloc = c.try_allocate(req(num_tasks=6))
    assert alloc is not None
    assert alloc.ranks_nodes == [0, 0, 0, 0, 1, 1]
    assert (c.free_cores, alloc.cores) == ([0, 2], {0: 4, 1: 2})


def test_a_request_that_does_not_fit_now_waits_and_fits_after_a_release():
    c = cluster(nodes=1)
    first = c.try_allocate(req(num_tasks=3))
    assert first is not None
    assert c.try_allocate(req(num_tasks=2)) is None  # only 1 core left: wait, not refused
    c.release(first)
    assert c.try_allocate(req(num_tasks=2)) is not None


def test_exclusive_takes_whole_idle_nodes_only():
    c = cluster()
    busy = c.try_allocate(req(num_tasks=1))
    assert busy is not None
    alloc = c.try_allocate(req(num_tasks=1, num_nodes=1, exclusive=True))
    assert alloc is not None and alloc.nodes == [1] and alloc.cores == {1: 4}
    assert c.try_allocate(req(num_tasks=1, num_nodes=1, exclusive=True)) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"num_nodes": 3}, "The server only has 2 nodes, you requested 3"),
        ({"num_tasks": 9}, "9 tasks of 1 cores and 0 GPUs need more than the 2 nodes"),
        ({"cores_per_task": 5}, "A task needs 5 cores and 0 GPUs; nodes have 4 cores"),
        ({"num_tasks": 10, "num_nodes": 2}, "5 tasks per node x 1 cores"),
        ({"gpus_per_task": 1}, "A task needs 1 cores and 1 GPUs; nodes have 4 cores and 0 GPUs"),
    ],
)
def test_requests_that_can_never_fit_are_refused_with_the_reason(fields, reason):
    with pytest.raises(UnsatisfiableRequest, match=reason.replace("(", r"\(")):
        cluster().limits().check(req(**fields))


@settings(max_examples=300, deadline=None)
@given(
    nodes=st.integers(1, 4),
    cores=st.integers(1, 8),
    gpus=st.integers(0, 2),
    jobs=st.lists(
        st.tuples(
            st.integers(1, 12),  # tasks
            st.integers(1, 3),  # cores per task
            st.integers(0, 1),  # gpus per task
            st.one_of(st.none(), st.integers(1, 4)),  # nodes
            st.booleans(),  # exclusive
        ),
        max_size=8,
    ),
)
def test_allocations_never_exceed_a_node_and_release_restores_it(nodes, cores, gpus, jobs):
    c = cluster(nodes, cores, gpus)
    taken = []
    for tasks, cpt, gpt, num_nodes, exclusive in jobs:
        request = req(
            num_tasks=tasks,
            cores_per_task=cpt,
            gpus_per_task=gpt,
            num_nodes=num_nodes,
            exclusive=exclusive and num_nodes is not None,
        )
        try:
            c.limits().check(request)
        except UnsatisfiableRequest:
            continue
        alloc = c.try_allocate(request)
        assert all(0 <= free <= cores for free in c.free_cores)
        assert all(0 <= free <= gpus for free in c.free_gpus)
        if alloc is not None:
            assert len(alloc.ranks_nodes) == tasks
            if num_nodes is not None:
                assert len(alloc.nodes) == num_nodes
            taken.append(alloc)
    for alloc in taken:
        c.release(alloc)
    assert (c.free_cores, c.free_gpus) == ([cores] * nodes, [gpus] * nodes)


def test_idset_and_hostlist_compress_as_flux_does():
    assert idset([3, 0, 1, 2, 5]) == "0-3,5"
    assert hostlist(["node0", "node1", "node2", "login"]) == "node[0-2],login"
    assert hostlist(["vm"]) == "vm"


def test_records_round_trip():
    event = parse_record(7, 1, event_record("start", {"rank": 0}, 12.5).rstrip(b"\n"))
    assert event == JobEvent(7, 1, "start", 12.5, {"rank": 0})
    line = parse_record(7, 2, output_record(b"e", 3, b"oops \xff", 13.0).rstrip(b"\n"))
    assert isinstance(line, OutputLine)
    assert (line.stream, line.rank, line.data) == ("stderr", 3, b"oops \xff\n")
    fragment = parse_record(7, 3, output_record(b"O", 0, b"no newline", 14.0).rstrip(b"\n"))
    assert isinstance(fragment, OutputLine) and fragment.data == b"no newline"
    assert is_event(event_record("finish", {}, 1.0)) and not is_event(
        output_record(b"o", 0, b"", 1)
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), min_size=1))
def test_lines_read_at_once_are_labelled_as_one_record_each(lines: list[bytes]):
    # The supervisor labels a whole read in one operation: the same bytes as record by record.
    data = b"".join(line + b"\n" for line in lines)
    expected = b"".join(output_record(b"e", 3, line, 12.25) for line in lines)
    assert output_records(b"e", 3, data, 12.25) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3 * LINE_MAX), min_size=1, max_size=6))
@example([LINE_MAX]).via("the longest line kept whole")
@example([LINE_MAX + 1]).via("the shortest line cut")
@example([0, LINE_MAX, 0, LINE_MAX + 1])
@example([LINE_MAX // 2] * 5)
def test_long_lines_are_found_without_looking_at_every_line(lengths: list[int]):
    data = b"".join(b"x" * n + b"\n" for n in lengths)
    assert has_long_line(data, len(data)) == (max(lengths) > LINE_MAX)


_record = st.one_of(
    st.tuples(
        st.sampled_from([b"o", b"e", b"O", b"E"]),
        st.integers(0, 2),
        st.sampled_from([b"x", b"a @ b", b"", b"\\", b"12.0 @ - {", b"\xff"]),
        st.sampled_from([1.0, 2.5]),
    ).map(lambda r: output_record(*r)),
    st.sampled_from(
        [
            event_record("start", {"n": " @ "}, 3.0),
            b"4.0 @ - {cut short\n",  # a record a killed writer left behind
            b"garbage\n",
        ]
    ),
)


def _one_by_one(body: bytes, first: int) -> list:
    return [parse_record(7, seq, raw) for seq, raw in enumerate(body[:-1].split(b"\n"), first)]


@settings(max_examples=300, deadline=None)
@given(st.lists(_record, min_size=1, max_size=30), st.integers(1, 1000))
def test_runs_of_lines_parse_to_the_entries_of_their_records(records: list[bytes], first: int):
    # Records with one label (one read of one pipe) become one OutputRun; expanded, the
    # entries are those of parsing every record on its own, and so are the events alone.
    body = b"".join(records)
    entries = parse_entries(7, first, body)
    flat = [e for x in entries for e in (x.lines() if isinstance(x, OutputRun) else [x])]
    expected = _one_by_one(body, first)
    assert flat == expected
    assert all(run.count > 1 for run in entries if isinstance(run, OutputRun))
    events = [e for e, raw in zip(expected, body[:-1].split(b"\n"), strict=True) if is_event(raw)]
    assert parse_events(7, first, body) == events


@settings(max_examples=100, deadline=None)
@given(st.lists(_record, min_size=1, max_size=40), st.integers(1, 50), st.integers(20, 400))
def test_a_slice_read_takes_at_most_the_records_asked_for(records, most, limit):
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "job.log")
        Path(log).write_bytes(b"".join(records))
        cursor, seen = Cursor(), b""
        while body := read_slice(log, cursor, limit, most):
            assert body.endswith(b"\n") and 1 <= body.count(b"\n") <= most
            seen += body
            assert (cursor.offset, cursor.seq) == (len(seen), seen.count(b"\n"))
        assert seen == b"".join(records)
        for start in (0, 1, len(records) // 2, len(records)):
            slices = list(iter_slices(log, start, None, limit))
            assert b"".join(body for _, body in slices).split(b"\n")[:-1] == list(
                iter_records(log, start)
            )
            assert not slices or slices[0][0] == start + 1


def test_a_damaged_record_is_shown_raw_never_an_error():
    damaged = parse_record(7, 4, b"12.0 @ - {not json")
    assert isinstance(damaged, OutputLine)
    assert (damaged.stream, damaged.rank, damaged.data) == ("stderr", -1, b"12.0 @ - {not json")


def test_read_new_leaves_a_record_being_written_for_the_next_read(tmp_path: Path):
    log = tmp_path / "job.log"
    log.write_bytes(output_record(b"o", 0, b"one", 1.0) + b"2.0 o 0 tw")
    cursor = Cursor()
    assert read_new(str(log), cursor) == [output_record(b"o", 0, b"one", 1.0).rstrip(b"\n")]
    assert cursor.seq == 1
    with log.open("ab") as f:
        f.write(b"o\n")
    assert read_new(str(log), cursor) == [b"2.0 o 0 two"]
    assert (cursor.seq, cursor.offset) == (2, log.stat().st_size)
    assert read_new(str(log), cursor) == []
    assert read_new(str(tmp_path / "missing.log"), Cursor()) == []


def test_read_some_says_when_a_limit_left_records_behind(tmp_path: Path):
    log = tmp_path / "job.log"
    records = [output_record(b"o", 0, b"line %d" % i, 1.0) for i in range(3)]
    log.write_bytes(b"".join(records) + b"2.0 o 0 part")
    cursor = Cursor()
    # Two records fit the limit: the third is still there to read.
    assert read_some(str(log), cursor, len(records[0]) * 2 + 1) == (b"".join(records[:2]), True)
    # The rest of the file is read: only a record being written is left, no need to look again.
    assert read_some(str(log), cursor, 1 << 20) == (records[2], False)
    assert read_some(str(log), cursor, 1 << 20) == (b"", False)
    assert read_some(str(log), Cursor(), records_limit=1) == (records[0], True)
    assert read_some(str(tmp_path / "missing.log"), Cursor()) == (b"", False)


def _spares(directory: Path) -> int:
    return len(list(directory.glob(PREFIX + "*")))


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_spare_files_grow_to_a_burst_that_ran_them_out_and_are_removed_at_close(tmp_path: Path):
    spares = SpareFiles(tmp_path, most=STOCK * 3)
    try:
        _wait_for(lambda: _spares(tmp_path) == STOCK)
        burst = STOCK * 2
        for n in range(burst):
            os.close(spares.create(str(tmp_path / f"{n}.log")))
        assert all((tmp_path / f"{n}.log").stat().st_size == 0 for n in range(burst))
        # Once the burst is over, the stock is made again, as large as the burst.
        _wait_for(lambda: _spares(tmp_path) == burst)
    finally:
        spares.close()
    assert _spares(tmp_path) == 0
