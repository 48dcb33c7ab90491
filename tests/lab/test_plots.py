"""lab.plots: what each helper draws, read back from an Agg figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lab import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_a_figure_states_its_finding_as_the_title_and_has_the_axes_asked_for():
    fig, ax = plots.figure("Long polling answers in milliseconds")
    assert fig.get_suptitle() == "Long polling answers in milliseconds"
    assert fig.axes == [ax]
    _, axes = plots.figure("two panels", ncols=2)
    assert isinstance(axes, list) and len(axes) == 2
    assert all(
        not a.spines["top"].get_visible() and all(g.get_visible() for g in a.get_xgridlines())
        for a in axes
    )


def test_label_puts_the_units_on_the_axes_and_an_optional_panel_title():
    _, ax = plots.figure("f")
    plots.label(ax, "latency (ms)", "share of posts")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "latency (ms)",
        "share of posts",
        "",
    )
    plots.label(ax, "clients", "bytes per post (B)", title="SSE")
    assert ax.get_title() == "SSE"


def test_an_ecdf_is_one_step_line_through_every_sorted_value_scaled():
    _, ax = plots.figure("f")
    plots.ecdf(ax, [0.003, 0.001, 0.002, 0.004], scale=1000, color="#4C72B0", label="long")
    (line,) = ax.get_lines()
    assert line.get_drawstyle() == "steps-post"
    assert list(line.get_xdata()) == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert list(line.get_ydata()) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert (line.get_label(), line.get_color()) == ("long", "#4C72B0")
    assert ax.get_ylim() == pytest.approx((0, 1.02))


def test_each_ecdf_call_adds_one_line_with_as_many_points_as_values():
    _, ax = plots.figure("f")
    for n in (3, 10, 50):
        plots.ecdf(ax, np.random.default_rng(n).random(n))
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 10, 50]


def test_every_transport_and_series_has_its_own_colour():
    colours = list(plots.TRANSPORT_COLORS.values())
    assert set(plots.TRANSPORT_COLORS) == {"short polling", "long polling", "SSE", "WebSocket"}
    assert len(set(colours)) == 4 and len(set(plots.SEQUENCE)) == len(plots.SEQUENCE)
    assert all(matplotlib.colors.is_color_like(c) for c in colours + plots.SEQUENCE)
