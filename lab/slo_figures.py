"""What an SLO run shows: the figure beside its target, the plot, a sizing estimate (lesson 14).

``report(run)`` prints the measured p99 beside the objective's target, with the verdict and
the machine it ran on; ``budget(run)`` says where the CPU went; ``plot(run)`` draws the
latency ECDF and p99 over the window, each with the target line; ``sizing(run)`` turns the
backends' measured CPU per delivery into an estimate of the clients one backend holds,
stated as an estimate from this run.
"""

from __future__ import annotations

import math
import textwrap

from lab.plots import SEQUENCE, ecdf, figure, finish, label
from lab.slo import BUCKET, SloRun, verdict

HEADROOM = 0.5
"""The sizing estimate keeps each backend's core at most this busy."""


def report(run: SloRun) -> str:
    """The figure beside its target, with the machine it ran on."""
    s = run.stats
    servers = ", ".join(f"{name} {share:.0%}" for name, share in run.server_cpu.items())
    return _wrapped(
        [
            f"objective: {run.objective}",
            f"ran:       {run.clients} clients, {run.setup}; {run.posts} posts in "
            f"{run.window:.1f} s ({run.rate:.1f}/s)",
            f"measured:  p50 {s['p50'] * 1000:.1f} ms · p99 {s['p99'] * 1000:.1f} ms · max "
            f"{s['max'] * 1000:.1f} ms over {len(run.latencies):,} deliveries; lost "
            f"{run.lost}, duplicated {run.duplicates}, reconnects {run.reconnects}",
            f"target:    p99 ≤ {run.objective.target * 1000:.0f} ms → {verdict(run)}",
            f"machine:   {run.machine}",
            f"CPU:       clients' process {run.client_cpu:.0%} of a core"
            + (f"; {servers}" if servers else ""),
        ]
    )


def budget(run: SloRun) -> str:
    """Where the CPU went: each part's share of a core, per delivery and per post (the work
    one post costs that part, done one piece after another on its loop); then the machine's
    other work in the window."""
    if not run.latencies or not run.posts:
        return "budget: no deliveries, nothing to divide"
    parts = {"clients' process": run.client_cpu, **run.server_cpu}
    lines = []
    for name, share in parts.items():
        seconds = share * run.window  # CPU seconds in the window
        lines.append(
            f"{name:<28} {share:5.0%} of a core: {seconds / len(run.latencies) * 1e6:5.1f} µs "
            f"per delivery, {seconds / run.posts * 1000:5.1f} ms per post"
        )
    ours, cores = sum(parts.values()), run.machine.cores
    other = max(0.0, run.machine.busy * cores - ours)
    lines.append(
        f"together {ours:.2f} of {cores} cores; the machine had {run.machine.busy * cores:.2f} "
        f"busy, so about {other:.2f} cores went to other work"
    )
    return "\n".join(lines)


def plot(run: SloRun):
    """ECDF of every delivery's latency, and p99 over the window, each with the target."""
    target_ms, s, word = run.objective.target * 1000, run.stats, verdict(run).word
    title = (
        f"p99 delivery {s['p99'] * 1000:.0f} ms against a {target_ms:.0f} ms target: {word} "
        f"({run.clients} clients, {run.rate:.0f} posts/s)"
    )
    fig, (left, right) = figure(title, ncols=2, width=11)
    ecdf(left, run.latencies, scale=1000, color=SEQUENCE[0], label="every delivery")
    left.axvline(target_ms, color=SEQUENCE[3], ls="--", label=f"target {target_ms:.0f} ms")
    left.axhline(0.99, color="grey", lw=0.8, ls=":", label="99% of deliveries")
    left.plot(
        [s["p99"] * 1000], [0.99], "o", color=SEQUENCE[0], label=f"p99 {s['p99'] * 1000:.0f} ms"
    )
    left.set_xlim(0, max(target_ms, s["max"] * 1000) * 1.1)
    label(left, "delivery latency (ms)", "share of deliveries", "ECDF over the window")
    left.legend(loc="lower right", fontsize=8)
    times, p99s = zip(*run.buckets, strict=True) if run.buckets else ((), ())
    right.plot(times, [p * 1000 for p in p99s], marker="o", color=SEQUENCE[0], label="p99")
    right.axhline(target_ms, color=SEQUENCE[3], ls="--", label=f"target {target_ms:.0f} ms")
    right.set_ylim(0, max(target_ms, *(p * 1000 for p in p99s)) * 1.15)
    label(right, f"publish time into the window (s, {BUCKET:g} s bins)", "p99 latency (ms)",
          "p99 over the window")  # fmt: skip
    right.legend(loc="upper right", fontsize=8)
    finish(fig)
    return fig


def sizing(run: SloRun, *, clients: int = 100_000) -> str:
    """An estimate from this run: the backends' CPU per delivery → clients one backend (one
    core, one asyncio loop) could hold at this post rate with ``HEADROOM``, and how many
    backends ``clients`` would need."""
    used = sum(run.server_cpu.get(name, 0.0) for name in run.backends)  # cores, on average
    if used <= 0 or not run.latencies:
        return "sizing: the backends' CPU was not measured in this run, so no estimate"
    per_second = len(run.latencies) / run.window
    per_core = per_second / used
    per_backend = per_core * HEADROOM / run.rate
    backends = math.ceil(clients / per_backend)
    text = (
        f"measured: {per_second:,.0f} deliveries/s cost the backends {used:.2f} cores, "
        f"{per_core:,.0f} deliveries/s per core ({1e6 / per_core:.0f} µs of CPU each)\n"
        f"estimate: at {run.rate:.0f} posts/s and a core at most {HEADROOM:.0%} busy, one "
        f"backend holds about {per_backend:,.0f} clients; {clients:,} clients would take about "
        f"{backends} backends ({math.ceil(backends / 2)} 2-core machines, two backends each), "
        "each subscribed once to the backplane, which carries each post once per backend, "
        "not once per client"
    )
    others = {n: c for n, c in run.server_cpu.items() if n not in run.backends and c > used}
    for name, share in others.items():
        text += (
            f"\n{name} used {share:.2f} cores for the same deliveries, more than all the "
            f"backends: at {clients:,} clients it needs about {clients / run.clients * share:.0f}"
            " cores of its own, the next thing to size"
        )
    return _wrapped(text)


def _wrapped(text: str | list[str], width: int = 100) -> str:
    """Each line folded at ``width`` (JupyterLab breaks a long output line inside words), the
    rest of a line indented under its text."""
    lines = text if isinstance(text, list) else text.split("\n")
    return "\n".join(
        textwrap.fill(
            line,
            width,
            subsequent_indent=" " * _text_starts(line),
            break_on_hyphens=False,
            break_long_words=False,
        )
        for line in lines
    )


def _text_starts(line: str) -> int:
    """Where a line's text starts after its label (``"ran:       "``), else 2."""
    label, _, rest = line.partition(":")
    return len(line) - len(rest.lstrip()) if label.isalpha() and len(label) < 10 else 2
