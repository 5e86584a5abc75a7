"""bench/scale.py's arithmetic for row 6 (no batches run here): the figure at 2 000 items read
off two batches, and jobs measured at the same moment."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def scale():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("scale")
    finally:
        sys.path.remove(str(BENCH))


def line(fixed: float, per_item: float, n: int) -> float:
    """CPU per item of a batch of n that costs `fixed` once plus `per_item` each."""
    return (fixed + per_item * n) / n


@pytest.mark.parametrize("small, large, expected", [
    # a batch of the target size is measured, not read off a line
    ((100, 0.0063), (2000, 0.0046), 0.0046),
    ((2000, 0.0046), (3000, 0.0041), 0.0046),
    # start-up 0.15 s + 4 ms per item: exactly that line's value at 2000
    ((50, line(0.15, 0.004, 50)), (200, line(0.15, 0.004, 200)), line(0.15, 0.004, 2000)),
    ((20, line(0.30, 0.005, 20)), (250, line(0.30, 0.005, 250)), line(0.30, 0.005, 2000)),
    # no start-up cost: flat
    ((50, 0.004), (200, 0.004), 0.004),
])
def test_the_figure_at_2000_items_is_read_off_the_line_through_both_batches(scale, small, large, expected):
    assert scale.per_item_at(2000, small, large) == pytest.approx(expected, rel=1e-12)


def test_a_costlier_small_batch_start_up_lowers_the_estimate_only_by_its_share(scale):
    """The small batch's start-up is the noisy part: 0.06 s more moves the figure at 2000 by
    0.06 s x (1/150 - (1 + 50/150)/2000), 0.36 ms: why the bench takes the median of three small runs."""
    base = scale.per_item_at(2000, (50, line(0.15, 0.004, 50)), (200, line(0.15, 0.004, 200)))
    noisy = scale.per_item_at(2000, (50, line(0.21, 0.004, 50)), (200, line(0.15, 0.004, 200)))
    assert base - noisy == pytest.approx(0.06 * (1 / 150 - (1 + 50 / 150) / 2000), rel=1e-9)


def test_together_runs_the_jobs_at_once_returns_their_results_in_order_and_raises_an_error(scale):
    import threading

    meeting = threading.Barrier(3, timeout=5)  # broken unless all three jobs run at the same time

    def job(value):
        def run():
            meeting.wait()
            return value
        return run

    assert scale.together(job(1), job("two"), job([3])) == [1, "two", [3]]

    def broken():
        raise RuntimeError("the reference loop failed")

    with pytest.raises(RuntimeError, match="reference loop"):
        scale.together(lambda: 1, broken)


def test_together_raises_a_ctrl_c_rather_than_the_failures_it_caused(scale):
    def killed_child():
        raise RuntimeError("batch of 200 failed (exit -2)")

    def interrupted():
        raise KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        scale.together(killed_child, interrupted)


def test_scratch_puts_an_earlier_directory_aside_and_sweep_deletes_it_after_the_run(scale, tmp_path, monkeypatch):
    import common

    monkeypatch.setattr(common, "WORK", tmp_path / "work")
    monkeypatch.setattr(common, "TRASH", tmp_path / "work" / ".trash")
    first = common.scratch("scale-batch-large-200")
    (first / "out").mkdir()
    (first / "out" / "clip.mp4").write_bytes(b"video")
    again = common.scratch("scale-batch-large-200")  # the next round's: empty, the earlier one kept aside
    assert again == first and list(again.iterdir()) == []
    common.discard(again)
    aside = sorted((tmp_path / "work" / ".trash").iterdir())
    assert len(aside) == 2 and [p.name for p in aside[0].rglob("*.mp4")] + [p.name for p in aside[1].rglob("*.mp4")] \
        == ["clip.mp4"]
    common.sweep()
    assert not (tmp_path / "work" / ".trash").exists() and not first.exists()
