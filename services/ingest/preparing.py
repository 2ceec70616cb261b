"""Preparation off the event loop, in worker processes, within a time budget.

:func:`services.ingest.article.prepare` is pure CPU work (extraction, sanitising, normalising)
on up to a few MiB of editor input. Run on the event loop, one heavy page held up every other
request, ``/healthz`` included, for as long as it took (issue 18: a minute). Here pages, ninjs
documents and long articles are prepared in a worker process, and the event loop only waits for
the answer; a short clean article or a withdrawal (bounded work of a few milliseconds) is still
prepared in place (see INLINE_MAX_CHARS).

Why processes, not threads: a thread shares the GIL with the event loop (pure-Python extraction
would still slow every request down) and cannot be stopped, so a page that runs past its budget
would keep burning a core after its editor was answered. A process can be killed. When a
preparation exceeds ``INGEST_PREPARE_BUDGET_SECONDS`` its worker is killed, the editor gets a
422 (the consumer: the dead-letter topic) with the reason, and a fresh worker takes its place.

Workers are forked from a ``forkserver`` that has imported the preparation code once, so a
replacement is ready in milliseconds and shares no threads or sockets with the service. Each
worker prepares one submission at a time; ``INGEST_PREPARE_WORKERS`` of them run side by side.
Time spent waiting for a free worker is not counted against the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import signal
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Literal

from pydantic import ValidationError

from services.ingest.article import Change, Rejected, prepare
from services.ingest.settings import IngestSettings
from shared.contracts import AnySubmission, SubmittedArticle, Withdrawal
from shared.messaging import describe_validation_error
from shared.registry import Publisher

_PRELOAD = ["services.ingest.article"]
#: A clean article with at most this many characters of body is prepared on the event loop:
#: sanitising and normalising it is linear work of a few milliseconds, less than the round trip
#: to a worker costs (which took ingest's throughput down by a fifth). Pages, ninjs and longer
#: articles go to the workers.
INLINE_MAX_CHARS = 20_000

Job = tuple[AnySubmission, Publisher, datetime]
Outcome = (
    tuple[Literal["ok"], Change] | tuple[Literal["rejected"], str] | tuple[Literal["error"], str]
)


class OverBudget(Rejected):
    """The submission needed more time than the budget: refused, like any other bad input."""


def budget_reason(budget: float) -> str:
    return (
        f"preparing this submission took longer than the {budget:g} s allowed per submission "
        "(INGEST_PREPARE_BUDGET_SECONDS) and was stopped: is it one article? Send the article "
        "(headline and body) rather than a whole page, or split it"
    )


def _serve(conn: Connection) -> None:
    """A worker's loop: prepare what comes in, send back the change or the reason."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service stops its workers, not Ctrl-C
    while True:
        try:
            sub, publisher, received_at = conn.recv()
        except (EOFError, OSError):
            return  # the service closed its end: it is stopping
        outcome: Outcome
        try:
            outcome = ("ok", prepare(sub, publisher, received_at))
        except Rejected as exc:
            outcome = ("rejected", str(exc))
        except ValidationError as exc:
            outcome = ("rejected", describe_validation_error(exc))
        except Exception:
            outcome = ("error", traceback.format_exc())
        conn.send(outcome)


@dataclass(eq=False)  # in a set by identity
class _Worker:
    process: BaseProcess
    conn: Connection


class Preparer:
    """A few worker processes that prepare submissions, each within ``budget`` seconds."""

    def __init__(self, workers: int, budget: float) -> None:
        self.budget = budget
        self.workers = workers
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        # One slot per worker: a live worker, or None where one is to be started. A thread per
        # slot waits for its worker's answer, so a free thread always finds a free slot.
        self._slots: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(workers):
            self._slots.put(None)
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="prepare")
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def warm(self) -> None:
        """Start every worker now, in the background, so the first submission waits for none."""
        for _ in range(self.workers):
            self._threads.submit(self._warm_one)

    async def prepare(
        self, sub: AnySubmission, publisher: Publisher, received_at: datetime
    ) -> Change:
        """What :func:`prepare` returns, from a worker; :class:`Rejected` (or
        :class:`OverBudget`) with the reason, as :func:`prepare` raises it."""
        if _light(sub):
            return prepare(sub, publisher, received_at)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._run, (sub, publisher, received_at))

    def close(self) -> None:
        """Stop every worker (they also stop with the service: they are daemons)."""
        self._closed = True
        self._threads.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            workers = list(self._live)
        for worker in workers:
            self._stop(worker)

    # In the threads ------------------------------------------------------------------------

    def _warm_one(self) -> None:
        slot = self._slots.get()
        try:
            slot = slot or self._start()
        finally:
            self._slots.put(slot)  # None again if it failed: the next submission tries

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs,), name="ingest-prepare", daemon=True
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        with self._lock:
            self._live.add(worker)
        return worker

    def _stop(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        with contextlib.suppress(OSError, ValueError):
            worker.process.kill()
            worker.process.join(5)
            worker.process.close()
        worker.conn.close()

    def _run(self, job: Job) -> Change:
        if self._closed:
            raise RuntimeError("the preparation workers are stopped")
        slot = self._slots.get()
        try:
            worker = slot or self._start()
        except BaseException:
            self._slots.put(None)
            raise
        try:
            outcome = self._ask(worker, job)
        except BaseException:
            self._stop(worker)
            self._slots.put(None)  # a fresh worker for the next submission
            raise
        self._slots.put(worker)
        return _result(outcome)

    def _ask(self, worker: _Worker, job: Job) -> Outcome:
        """Send the job and wait for the answer, at most the budget."""
        try:
            worker.conn.send(job)
            if not worker.conn.poll(self.budget):
                raise OverBudget(budget_reason(self.budget))
            outcome: Outcome = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(1)
            code = worker.process.exitcode
            raise Rejected(
                f"preparing this submission stopped its worker process (exit code {code}): "
                "it is too large or too complex to prepare"
            ) from None
        return outcome


def _light(sub: AnySubmission) -> bool:
    """Bounded, small work: a withdrawal, or a clean article of at most INLINE_MAX_CHARS."""
    if isinstance(sub, Withdrawal):
        return True
    if isinstance(sub, SubmittedArticle):
        return len(sub.body_text or "") + len(sub.body_html or "") <= INLINE_MAX_CHARS
    return False


def _result(outcome: Outcome) -> Change:
    if outcome[0] == "ok":
        return outcome[1]
    if outcome[0] == "rejected":
        raise Rejected(outcome[1])
    raise RuntimeError(f"preparing a submission failed in its worker:\n{outcome[1]}")


_SHARED: dict[tuple[int, float], Preparer] = {}


def preparer(settings: IngestSettings) -> Preparer:
    """The process's workers for these settings: the HTTP API, the desk and the consumer share
    them (so at most ``prepare_workers`` cores prepare at once), started in the background."""
    key = (settings.prepare_workers, settings.prepare_budget_seconds)
    if key not in _SHARED:
        _SHARED[key] = Preparer(*key)
        _SHARED[key].warm()
    return _SHARED[key]
