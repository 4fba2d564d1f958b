"""The two threading guarantees, on real Qt threads: the latest request wins, and a
cancelled worker never reports success.

Each job here blocks on an event the test controls, so that the cancel always lands
while the job runs: no timing luck either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from flowchroma_gui.qthreading import JobContext, WorkerManager, live_workers

WAIT = 20_000  # ms
SLOW = 60.0  # s a superseded request would go on for if nobody cancelled it


def _until_cancelled(ctx: JobContext, seconds: float) -> bool:
    """Poll the context like a core loop does between steps; True if it was cancelled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ctx.cancelled:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def manager(qtbot):
    workers = WorkerManager()
    yield workers
    assert workers.shutdown(10_000)
    assert live_workers() == []


# ---------------------------------------------------------------------------------------
# latest request wins


def test_a_new_request_cancels_the_running_one_and_its_results_are_dropped(qtbot, manager):
    running = threading.Event()
    outcome: dict[str, bool] = {}

    def handler(request: str, ctx: JobContext) -> Iterator[str]:
        if request == "slow":
            running.set()
            outcome["slow was cancelled"] = _until_cancelled(ctx, SLOW)
            yield "slow result"
        else:
            yield f"{request} result"

    thread = manager.thread(handler, name="latest-test")
    events: list[tuple[int, object]] = []
    completed: list[int] = []
    thread.event.connect(lambda i, e: events.append((i, e)))
    thread.completed.connect(completed.append)

    slow = thread.submit("slow")
    assert running.wait(10)
    asked = time.monotonic()
    fast = thread.submit("fast")
    qtbot.waitUntil(lambda: fast in completed, timeout=WAIT)
    # the slow request was told to stop at once, not left to run its 60 s
    assert time.monotonic() - asked < WAIT / 1000
    assert outcome == {"slow was cancelled": True}
    # nothing of the superseded request reaches the GUI thread, and it never "completed"
    assert [i for i, _ in events] == [fast]
    assert slow not in completed and fast in completed
    assert thread.last_id == fast


def test_only_the_newest_of_many_waiting_requests_is_handled(qtbot, manager):
    gate = threading.Event()
    handled: list[int] = []

    def handler(request: int, ctx: JobContext) -> Iterator[int]:
        if request == 0:
            gate.wait(10)  # holds the thread while the others queue up
        handled.append(request)
        yield request

    thread = manager.thread(handler, name="latest-queue-test")
    events: list[object] = []
    thread.event.connect(lambda _i, e: events.append(e))
    thread.submit(0)
    qtbot.waitUntil(thread.isRunning, timeout=WAIT)
    for request in range(1, 6):
        thread.submit(request)
    gate.set()
    qtbot.waitUntil(lambda: 5 in events, timeout=WAIT)
    assert 5 in handled and not set(handled) & {1, 2, 3, 4}
    assert events == [5]  # request 0 was cancelled by the newer ones: nothing emitted


# ---------------------------------------------------------------------------------------
# an aborted worker never reports success


def _returns_anyway(ctx: JobContext, go: threading.Event) -> str:
    go.wait(10)
    return "a result after the cancel"  # a job that ignores the cancel


def _checks(ctx: JobContext, go: threading.Event) -> str:
    go.wait(10)
    ctx.check()  # raises Cancelled, as the core does
    return "never reached"


def _fails_while_stopping(ctx: JobContext, go: threading.Event) -> str:
    go.wait(10)
    raise OSError("the file went away while stopping")


def _generator(ctx: JobContext, go: threading.Event) -> Iterator[int]:
    yield 1
    go.wait(10)
    yield 2
    yield 3
    return "a result after the cancel"  # type: ignore[return-value]


JOBS: dict[str, Callable[..., object]] = {
    "returns anyway": _returns_anyway,
    "raises Cancelled": _checks,
    "fails while stopping": _fails_while_stopping,
    "generator": _generator,
}


@pytest.mark.parametrize("job", JOBS.values(), ids=JOBS.keys())
def test_a_cancelled_worker_reports_aborted_never_returned(qtbot, manager, job):
    go = threading.Event()
    reported: list[str] = []
    signals: list[str] = []
    worker = manager.start(
        job,
        go,
        name="abort-test",
        on_yielded=lambda v: reported.append(f"yielded {v}"),
        on_returned=lambda v: reported.append("returned"),
        on_errored=lambda e: reported.append("errored"),
        on_aborted=lambda: reported.append("aborted"),
        on_finished=lambda: reported.append("finished"),
    )
    # the raw signals too: a receiver connected without the manager must not see success
    worker.signals.returned.connect(lambda v: signals.append("returned"))
    worker.signals.errored.connect(lambda e: signals.append("errored"))
    worker.signals.aborted.connect(lambda: signals.append("aborted"))
    qtbot.waitUntil(lambda: worker.is_running, timeout=WAIT)
    worker.quit()
    go.set()
    qtbot.waitUntil(lambda: "finished" in reported, timeout=WAIT)
    outcomes = [r for r in reported if not r.startswith("yielded")]
    assert outcomes == ["aborted", "finished"], reported
    assert signals == ["aborted"]
    # progress made after the cancel is not shown either
    assert "yielded 2" not in reported and "yielded 3" not in reported


@pytest.mark.parametrize("cancel", [False, True], ids=["runs to the end", "cancelled"])
def test_a_worker_reports_exactly_one_outcome(qtbot, manager, cancel):
    """The control of the test above: without a cancel, the same job returns its value."""
    go = threading.Event()
    outcomes: list[object] = []
    worker = manager.start(
        _generator,
        go,
        name="outcome-test",
        on_returned=lambda v: outcomes.append(("returned", v)),
        on_aborted=lambda: outcomes.append("aborted"),
        on_errored=lambda e: outcomes.append(("errored", e)),
    )
    qtbot.waitUntil(lambda: worker.is_running, timeout=WAIT)
    if cancel:
        worker.quit()
    go.set()
    qtbot.waitUntil(lambda: worker.is_finished and bool(outcomes), timeout=WAIT)
    qtbot.wait(50)  # anything queued behind the first outcome arrives now
    expected = ["aborted"] if cancel else [("returned", "a result after the cancel")]
    assert outcomes == expected
