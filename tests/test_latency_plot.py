"""20_callback_verification's latency plot, read from the matplotlib figure: axis scaled to the data, the
deadline a labelled dashed line, bars coloured by kind with a legend naming what the data has."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from runbook_lib.verification.arrival import KIND_COLOURS, plot_latency
from runbook_lib.verification.results import RoundTrip, SentRequest, SpanSeen

FINISHED = 1_000.0


def _trip(latencies: dict[tuple[str, int], float | None], deadline_s: float) -> RoundTrip:
    """Requests keyed (kind, index); a latency of None is a span that never arrived."""
    requests, spans = [], {}
    for (kind, index), latency in latencies.items():
        call_id = f"{kind}-{index}"
        requests.append(SentRequest(kind, index, "tag", "m", FINISHED - 0.3, FINISHED, 200, call_id, None))
        if latency is not None:
            spans[call_id] = SpanSeen(call_id, "t", "s", "litellm_request", "svc", "OK", "", "p", {},
                                      FINISHED + latency)
    return RoundTrip("run", requests, spans, deadline_s=deadline_s)


def _deadline_lines(ax) -> list:
    return [line for line in ax.get_lines() if line.get_label().startswith("deadline")]


def _bars(ax) -> list:
    return [p for p in ax.patches if p.get_width() > 0]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_deadline_far_above_the_data_gives_a_log_axis_that_shows_both() -> None:
    latencies = {("plain", 1): 0.4, ("plain", 2): 1.2, ("stream", 1): 0.9, ("failing", 1): 2.5, ("failing", 2): None}
    fig = plot_latency(_trip(latencies, deadline_s=27.5))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    arrived = [v for v in latencies.values() if v is not None]
    assert low < min(arrived) and min(arrived) / low <= 4  # the fastest bar is not squashed to the floor
    assert 27.5 < high <= 27.5 * 3

    (line,) = _deadline_lines(ax)
    assert line.get_label() == "deadline 27.5 s" and line.get_linestyle() == "--"
    assert set(line.get_ydata()) == {27.5}
    assert any(t.get_text() == "deadline 27.5 s" for t in ax.texts)  # marked on the plot, not only in the legend

    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["plain (arrived)", "stream (arrived)", "failing (arrived)", "no span by the deadline",
                      "deadline 27.5 s"]

    bars = _bars(ax)
    assert [round(b.get_height(), 3) for b in bars] == [0.4, 1.2, 0.9, 2.5, 27.5]
    filled = [to_hex(b.get_facecolor()) for b in bars[:4]]
    assert filled == [KIND_COLOURS["plain"].lower(), KIND_COLOURS["plain"].lower(), KIND_COLOURS["stream"].lower(),
                      KIND_COLOURS["failing"].lower()]
    assert not bars[4].get_fill() and bars[4].get_hatch() == "//"  # the missing span: outlined, hatched
    labels = [t.get_text() for t in ax.texts]
    assert {"0.40 s", "1.20 s", "0.90 s", "2.50 s", "missing"} <= set(labels)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["plain #1", "plain #2", "stream #1", "failing #1",
                                                             "failing #2"]


def test_deadline_near_the_data_gives_a_linear_axis_from_zero() -> None:
    fig = plot_latency(_trip({("plain", 1): 0.4, ("stream", 1): 3.9}, deadline_s=6))
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert ax.get_yscale() == "linear" and low == 0 and 6 < high <= 6 * 1.3
    (line,) = _deadline_lines(ax)
    assert line.get_label() == "deadline 6 s"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["plain (arrived)", "stream (arrived)", "deadline 6 s"]  # only what the data has


def test_nothing_arrived_still_shows_the_deadline_and_says_so() -> None:
    fig = plot_latency(_trip({("plain", 1): None, ("failing", 1): None}, deadline_s=12))
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[1] > 12
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["no span by the deadline", "deadline 12 s"]
    assert [t.get_text() for t in ax.texts].count("missing") == 2


def _overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of the plot's labels (bar values, ``missing``, the deadline's) whose drawn boxes intersect."""
    fig.draw_without_rendering()
    texts = [t for t in fig.axes[0].texts if t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent()) for t in texts]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


@pytest.mark.parametrize("latencies, deadline_s", [
    ({("plain", 1): None, ("stream", 1): None, ("failing", 1): None}, 30),            # nothing arrived
    ({("plain", 1): None, ("failing", 1): None}, 12),
    ({(kind, i): None for kind in ("plain", "stream", "failing") for i in range(3)}, 4.98808),  # 9 narrow bars
    ({("plain", 1): 5.8, ("stream", 1): 3.9, ("failing", 1): None}, 6),               # a bar at the deadline
    ({("plain", 1): 0.4, ("plain", 2): 1.2, ("stream", 1): 0.9, ("failing", 1): 2.5, ("failing", 2): None}, 27.5),
    ({("plain", 1): 5.9, ("stream", 1): 5.7}, 6),                                      # both ends taken above
], ids=["none-3", "none-2", "none-9", "near-deadline", "log-axis", "all-near"])
def test_labels_never_overlap(latencies, deadline_s) -> None:
    fig = plot_latency(_trip(latencies, deadline_s=deadline_s))
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert f"deadline {deadline_s:.3g} s" in labels
    assert labels.count("missing") == sum(v is None for v in latencies.values())
    assert _overlapping_labels(fig) == []
