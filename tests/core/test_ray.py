"""``flowchroma batch --ray`` on a real local Ray instance bound to 127.0.0.1 with two
worker processes: one is killed mid-run and the batch still completes, bit for bit the
same as the batch made in one process (every decoded plane of the FFV1 outputs).

Ray's start-up alone takes 45-80 s on the 2-core test machine, so these tests are slow.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

# Before Ray is first imported: Ray then picks 127.0.0.1 for every service (the batch's
# own `import_ray(local=True)` does the same; set here in case a test imports Ray first).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from flowchroma_core.batch.driver import BatchRequest
from flowchroma_core.batch.films import plan_films
from flowchroma_core.batch.report import BatchProgress
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.pipeline.options import ColorizeOptions
from tests.core.batch_media import frame_planes, make_cut_film


def test_ray_missing_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowchroma_core.batch.cluster import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(FlowChromaError, match=r"pip install 'flowchroma-studio\[cluster\]'"):
        import_ray(local=True)


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_nothing(
    tmp_path: Path, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("ray")
    from flowchroma_core.batch.cluster import ray_cluster, run_ray
    from flowchroma_core.batch.local import run_local
    from flowchroma_core.model.session import ModelSession

    films = [tmp_path / "reel1.mkv", tmp_path / "reel2.mkv"]
    make_cut_film(films[0], shots=(13, 13, 13), seed=1)
    make_cut_film(films[1], shots=(13, 14), seed=2)
    options = ColorizeOptions(model=str(tiny_model), device="cpu")

    def request(outdir: Path) -> BatchRequest:
        outdir.mkdir()
        return BatchRequest(tuple(plan_films(films, outdir, "ffv1")), options, "ffv1",
                            segment_frames=8)  # fmt: skip

    alone = run_local(
        request(tmp_path / "local"),
        session=ModelSession.load(str(tiny_model), device="cpu"),
        progress=BatchProgress(2, enabled=False),
    )
    assert [o.result for o in alone.outcomes] == ["done", "done"]
    assert [o.segments for o in alone.outcomes] == [3, 2]  # every shot its own segment

    started: list[int] = []
    killed: list[int] = []
    reported: list[int] = []

    def on_part(film: Path, part: object, pid: int) -> None:
        reported.append(pid)
        if not killed:  # the other worker is busy with its first segment: kill it
            victim = next(p for p in started if p != pid)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with ray_cluster(None, num_cpus=2) as ray:
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        result = run_ray(
            request(tmp_path / "ray"), ray=ray, workers=2,
            progress=BatchProgress(2, enabled=False), on_workers=started.extend, on_part=on_part,
        )  # fmt: skip

    assert len(set(started)) == 2 and killed
    assert [o.result for o in result.outcomes] == ["done", "done"], result.outcomes
    # the killed worker's segment went back to the queue and was done by another worker
    assert "a Ray worker was lost" in caplog.text
    assert killed[0] not in reported[1:]
    for film in films:
        name = film.name
        # FFV1 is lossless: the decoded planes are the bits written (the files themselves
        # differ in Matroska's random segment UID)
        assert frame_planes(tmp_path / "ray" / name) == frame_planes(tmp_path / "local" / name)
        assert not (tmp_path / "ray" / f".{name}.parts").exists()
