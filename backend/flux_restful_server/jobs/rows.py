"""Listings and job info assembled from encoded rows kept per job (see ``jobs.cache``).

A page is answered in three steps: the ids from the executor's index (``query_ids``), each id's
row revision (``row_revisions``, a lookup in memory), and the body joined from the rows kept at
those revisions; only the jobs whose rows are missing or stale are read and encoded. The bytes
are exactly those of encoding the whole body at once (orjson writes compact JSON, so encoded
rows join into it), and every row is at least as new as the revision read before it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import compress, repeat
from operator import itemgetter, ne

from ..domain.query import JobFilter, Page
from ..domain.record import JobRecord
from ..domain.states import JobState
from ..executors.base import INACTIVE_REVISION, Executor
from ..http import encode
from .cache import EncodedInfo, ResponseCache
from .info import job_info, job_summary


def encode_info(record: JobRecord, revision: int) -> EncodedInfo:
    """Encode a record's job info, read at ``revision``, cut around a ticking ``runtime``."""
    info = job_info(record)
    owner = record.get("user")
    t_run = record.get("t_run")
    if record["state"] == JobState.INACTIVE or not t_run or record.get("t_cleanup"):
        return EncodedInfo(revision, owner, encode(info))  # runtime does not tick
    keys = list(info)
    at = keys.index("runtime")
    before = {k: info[k] for k in keys[:at]}
    after = {k: info[k] for k in keys[at + 1 :]}
    # Halves of a dict encode to the dict's bytes cut at the value (compact JSON).
    head = (encode(before)[:-1] + b"," if before else b"{") + b'"runtime":'
    tail = b"," + encode(after)[1:] if after else b"}"
    return EncodedInfo(revision, owner, head, tail, float(t_run))


def keep_info(cache: ResponseCache, record: JobRecord, revision: int | None) -> EncodedInfo:
    """Encode a job's info read at ``revision``; keep it if it can be told current later.

    ``None`` (the executor cannot tell) keeps only an inactive job's, which is final.
    """
    if record["state"] == JobState.INACTIVE:
        revision = INACTIVE_REVISION
    encoded = encode_info(record, INACTIVE_REVISION if revision is None else revision)
    if revision is not None:
        cache.infos.put(record["id"], encoded)
    return encoded


READ_BY_ID = 500
"""Past this many rows to read, a page is read whole, as without rows kept (and none are kept):
bounded statements, and a listing of everything costs what it did."""


async def _rows(
    executor: Executor,
    filters: JobFilter,
    page: Page,
    missing: list[int],
    revisions: dict[int, int | None],
    *,
    summary: bool,
) -> tuple[list[JobRecord], bool]:
    """Read the records of the ``missing`` jobs of a page (jobs gone are skipped).

    Rows that will be kept and rows that will not are read apart: an executor may read a job
    whose revision it knows from a different source than one whose it does not. Also says
    whether the rows may be kept.
    """
    if len(missing) > READ_BY_ID:
        return await executor.query(filters, page, summary=summary), False
    records: list[JobRecord] = []
    for known in (True, False):
        group = frozenset(i for i in missing if (revisions[i] is not None) is known)
        if group:
            records += await executor.query(JobFilter(ids=group), Page(), summary=summary)
    return records, True


_MISS = (object(), b"")
"""A kept row that matches no revision (``None`` included)."""
_REVISION, _ROW = itemgetter(0), itemgetter(1)


async def summary_listing(
    executor: Executor, cache: ResponseCache, filters: JobFilter, page: Page
) -> bytes:
    """The encoded body of ``GET /v1/jobs``: ``{"jobs": [summary, ...]}``.

    The page's kept rows are looked up and checked against the revisions in bulk (``map``
    over the ids, no Python step per row): per row, that was most of a listing's own time.
    """
    ids = await executor.query_ids(filters, page)
    revisions = executor.row_revisions(ids, summary=True)
    hits = list(map(cache.summaries.rows.get, ids, repeat(_MISS)))
    stale = list(map(ne, map(_REVISION, hits), revisions))
    rows = list(map(_ROW, hits))  # b"" where a row is missing or stale
    if any(stale):
        missing = list(compress(ids, stale))
        at = dict(zip(missing, compress(range(len(ids)), stale), strict=True))
        for index in at.values():
            rows[index] = b""  # a stale row is not shown, even if its job is gone now
        by_id = dict(zip(ids, revisions, strict=True))
        records, keep = await _rows(executor, filters, page, missing, by_id, summary=True)
        for record in records:
            job_id = record["id"]
            if job_id not in at:
                continue  # a page read whole holds no other jobs but in a race: as ids said
            rows[at[job_id]] = encoded = encode(job_summary(record))
            revision = by_id[job_id]
            if keep and revision is not None:
                cache.summaries.put(job_id, revision, encoded)
    return b'{"jobs":[' + b",".join(filter(None, rows)) + b"]}"


async def detail_listing(
    executor: Executor, cache: ResponseCache, filters: JobFilter, page: Page, *, array: bool
) -> tuple[bytes, bool]:
    """The encoded body of ``GET /v1/jobs?details=true`` (by id, or an array with ``array``).

    Also says whether a job on it is running, whose ``runtime`` makes the body change by itself.
    """
    ids = await executor.query_ids(filters, page)
    revisions = dict(zip(ids, executor.row_revisions(ids), strict=True))
    infos: dict[int, EncodedInfo | None] = {i: cache.info(i, revisions[i]) for i in ids}
    missing = [i for i, info in infos.items() if info is None]
    records, keep = await _rows(executor, filters, page, missing, revisions, summary=False)
    for record in records:
        job_id = record["id"]
        if job_id not in infos:
            continue
        revision = revisions[job_id]
        if keep and revision is not None:
            infos[job_id] = keep_info(cache, record, revision)
        else:  # not kept: a listing's record may come from elsewhere than info()
            infos[job_id] = encode_info(record, INACTIVE_REVISION)
    now = time.time()
    kept = [(i, info) for i in ids if (info := infos[i]) is not None]
    found = [(i, info.render(now)) for i, info in kept]
    ticking = any(info.tail for _, info in kept)
    if array:
        return _array(row for _, row in found), ticking
    return b"{" + b",".join(b'"%d":%s' % item for item in found) + b"}", ticking


def _array(rows: Iterable[bytes | None]) -> bytes:
    return b"[" + b",".join(row for row in rows if row is not None) + b"]"
