"""How the server stops on a signal: one process, and ``--workers N``'s process manager.

SIGTERM, SIGINT and SIGHUP (unless ignored at start, as ``nohup`` does) stop gracefully from the
moment the port first answers; with several workers the manager, the workers and Sanic's
worker-state process do so whether the signal reaches the manager alone or the whole process
group, also while the workers come up.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from sanic import Sanic
from sanic.log import logger as sanic_log

from .context import App

__all__ = ["spare_the_worker_state_process", "stop_on_signals_from_the_first_answer"]


def stop_on_signals_from_the_first_answer(app: App) -> None:
    """Stop gracefully on SIGTERM, SIGINT and a hangup, from the moment the port answers.

    Sanic installs its handlers after it starts serving; a signal in between met the default
    action: SIGTERM killed the server uncleanly (status -15, nothing shut down), SIGINT raised
    a KeyboardInterrupt traceback. This installs the same handler (``app.stop``, which keeps a
    stop asked during start-up until the server runs) before serving starts; Sanic's own
    replaces it after. Sanic leaves SIGHUP alone, so closing the server's terminal killed it
    uncleanly: it now stops as on SIGTERM, unless SIGHUP was ignored when it started
    (``nohup``), which keeps it serving. With ``--workers N`` the process manager gets the same
    three signals, through :func:`_stop_the_manager_from_its_loop`.
    """
    signals = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)

    @app.listener("before_server_start", priority=_LAST)
    def _install(app: App) -> None:
        loop = asyncio.get_running_loop()
        for signum in signals:
            loop.add_signal_handler(signum, partial(app.stop, terminate=False))

    @app.listener("main_process_ready")
    def _install_in_the_manager(app: App) -> None:  # only with several workers
        _stop_the_manager_from_its_loop(app.manager, signals)


def spare_the_worker_state_process(app: Sanic[Any, Any]) -> None:
    """Keep SIGTERM and SIGHUP sent to the whole process group from Sanic's worker-state process.

    With ``--workers N`` Sanic first starts a ``multiprocessing`` manager process that holds the
    workers' shared state. A terminal closing (SIGHUP) or ``kill -- -PGID`` (SIGTERM) reached
    it with the rest of the group and killed it, and the main process, still stopping its
    workers through it, failed with "Broken pipe" and status 1. The two signals are blocked
    while that process starts, so it inherits them blocked; the main process takes them back
    before any worker starts. (It ignores SIGINT itself, so Ctrl-C never had this problem.)
    Call before ``Sanic.serve``.
    """
    from multiprocessing import resource_tracker

    # The tracker's start unblocks SIGTERM (it blocks and unblocks it around its own spawn),
    # and the worker-state process would start it: it is started first.
    resource_tracker.ensure_running()
    held = {signal.SIGTERM, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)

    @app.main_process_start
    def _take_them_back(app: Sanic[Any, Any]) -> None:
        if held & signal.sigpending():  # one arrived meanwhile: it acts now, as it would have,
            for child in multiprocessing.active_children():  # without leaving the worker-state
                child.kill()  # process behind (it keeps the two blocked: SIGKILL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _stop_the_manager_from_its_loop(manager: Any, signals: list[signal.Signals]) -> None:
    """Have ``--workers N``'s process manager stop from its own loop, not in the handler.

    Sanic's manager shuts down inside its signal handler, which writes the shared worker state
    through a ``multiprocessing`` proxy; a signal that lands while the manager's loop is itself
    inside a proxy call (it polls the workers' acknowledgements as they come up) interleaves two
    calls on one connection, and the manager waited forever for an answer, its workers already
    gone (seen with SIGTERM a moment after "Worker ready"). Here the handler only notes the
    signal: the wait for acknowledgements ends at once, and the monitor loop shuts the workers
    down on its next turn. A second signal kills the workers, not the manager's own process
    group as Sanic's does (the terminal's whole job, ``| tee`` included, went with it). SIGHUP,
    which Sanic's manager does not handle (a hangup killed it and left its workers serving), is
    handled the same way. A Sanic whose manager lacks these pieces keeps its own handlers.
    """
    needed = ("_all_workers_ack", "_poll_monitor", "shutdown", "start")
    if not all(hasattr(manager, n) for n in needed):
        return
    from sanic.worker.manager import MonitorCycle

    asked: list[int] = []
    all_acked, poll = manager._all_workers_ack, manager._poll_monitor

    def stop(signum: int, _frame: Any) -> None:
        if asked:  # the workers die at once; the manager's loop, wherever it is, then ends
            for process in list(manager.processes):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
            return
        asked.append(signum)
        sanic_log.info("Received signal %s. Shutting down.", signal.Signals(signum).name)

    def acked_or_asked() -> bool:
        return bool(asked) or bool(all_acked())

    def poll_or_stop() -> Any:
        if asked:
            manager.shutdown()  # a SIGINT to every worker
            pids = [process.pid for process in manager.processes]
            threading.Thread(target=_interrupt_until_gone, args=(pids,), daemon=True).start()
            return MonitorCycle.BREAK
        return poll()

    start = manager.start

    def start_with_interrupts_held() -> None:
        # The workers inherit SIGINT blocked and take it back once an interrupt makes them exit
        # quietly (``cli.worker_app``): the SIGINT with which the manager stops a worker that
        # is still importing waits for that, instead of a KeyboardInterrupt traceback.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    manager._all_workers_ack = acked_or_asked
    manager._poll_monitor = poll_or_stop
    manager.start = start_with_interrupts_held
    for signum in signals:
        signal.signal(signum, stop)


def _interrupt_until_gone(pids: list[int], every: float = 1.0, tries: int = 10) -> None:
    """Send SIGINT again, once a second for ten, to the workers of ``pids`` still running.

    A worker that is starting can miss the first: Sanic ignores SIGINT for a moment while it
    swaps in its own handler (seen once in a hundred stops: the worker served on, and the
    manager waited on it for good). A second SIGINT to a stopping worker does no harm.
    """
    for _ in range(tries):
        time.sleep(every)
        running = [pid for pid in pids if _running_child(pid)]
        if not running:
            return
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)


def _running_child(pid: int) -> bool:
    """Whether ``pid`` is still a running child of this process (not gone, reaped or a zombie)."""
    try:
        state, parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return False
    return state != "Z" and int(parent) == os.getpid()


_LAST = -1_000_000
"""A listener priority after every other listener's of the same event."""
