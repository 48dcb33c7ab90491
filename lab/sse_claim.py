"""The seed's claim that SSE "works great with load balancers (since it's just HTTP)", judged
from lesson 09's measurements (lesson 09).

``judge(...)`` reads what this run measured — events through the lesson's block and through
nginx's defaults (``lab.delivery``), quiet streams with and without heartbeats behind an idle
timeout (``lab.balancing.quiet_lifetimes``), the streams a restarted backend held afterwards
(``lab.balancing.ConnectionSampler``) — and returns a ``Verdict``: "confirmed" when SSE passed
and no condition was found, "true with conditions" when it passed and some condition held,
"refuted" when no event passed the lesson's block, "inconclusive" when only some did. A part
this run could not measure (nginx's buffering, on the fallback) is named as not measured, with
the lesson that measured it; the resume half (``Last-Event-ID`` on any backend, which needs a
shared history) is lesson 10's measurement and is cited, not judged here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.delivery import Delivery

RESUME = (
    "resuming on another backend needs Last-Event-ID and a history every backend shares: not "
    'measured here; lesson 10 measures it ("A backend restart, and Last-Event-ID across '
    "backends\": b2's clients reconnect and get every post once, in order)"
)


@dataclass(frozen=True)
class Condition:
    """One condition on the claim: ``holds`` is True when this run showed SSE needs it, None
    when this run did not measure it."""

    name: str
    holds: bool | None
    evidence: str


@dataclass
class Verdict:
    verdict: str
    passed: str
    conditions: list[Condition] = field(default_factory=list)

    def show(self) -> str:
        lines = [f'The seed\'s claim "SSE works great with load balancers": {self.verdict}.']
        lines.append(f"- {self.passed}")
        for c in self.conditions:
            mark = {True: "condition", False: "not a condition here", None: "not measured"}
            lines.append(f"- {c.name} ({mark[c.holds]}): {c.evidence}")
        lines.append(f"- and {RESUME}.")
        return "\n".join(lines)


def judge(
    through_block: Delivery,
    through_defaults: Delivery | None,
    quiet: dict[str, dict[str, float | None]],
    held_after_restart: dict[str, int],
    restarted: str,
) -> Verdict:
    """The verdict from this run's numbers (see the module's docstring)."""
    passed = (
        f"through {through_block.name}, {through_block.arrived} of "
        f"{through_block.total} events arrived within {through_block.wait:g} s: SSE is one "
        "long HTTP response, and a proxy passes it on as one"
    )
    if through_defaults is None:
        buffering = Condition(
            "buffering off",
            None,
            "no nginx ran here (the fallback relays bytes); lesson 03 measured nginx's "
            "defaults (HTTP/1.0 and buffering on) holding every event until the stream ended",
        )
    else:
        held = through_defaults.arrived < through_defaults.total
        buffering = Condition(
            "buffering off",
            held,
            f"through nginx's defaults {through_defaults.arrived} of {through_defaults.total} "
            f"events arrived within {through_defaults.wait:g} s",
        )
    cut, kept = quiet["no heartbeat"]["SSE"], quiet["heartbeats"]["SSE"]
    idle = Condition(
        "heartbeats shorter than every idle timeout",
        cut is not None and kept is None,
        (
            f"a quiet stream was cut after {cut:.1f} s"
            if cut is not None
            else "a quiet stream was not cut"
        )
        + (
            ", one with heartbeats lived on"
            if kept is None
            else f", one with heartbeats was cut too, after {kept:.1f} s"
        ),
    )
    others = sum(v for name, v in held_after_restart.items() if name != restarted)
    rebalance = Condition(
        "rebalancing after a restart is yours to do",
        held_after_restart[restarted] == 0 and others > 0,
        f"after {restarted} restarted it held {held_after_restart[restarted]} streams, the "
        f"others {others}",
    )
    conditions = [buffering, idle, rebalance]
    if through_block.arrived == 0:
        verdict = "refuted"
    elif not through_block.complete:
        verdict = "inconclusive"
    elif any(c.holds for c in conditions):
        verdict = "true with conditions"
    else:
        verdict = "confirmed"
    return Verdict(verdict, passed, conditions)
