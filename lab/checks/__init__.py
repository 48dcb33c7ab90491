"""Exercise checks that say what is wrong and how to fix it (introduced in lesson 00).

A check cell calls one ``check_NN_*`` function with the learner's code. It either prints what
passed or raises ``CheckFailed`` whose message names the exercise, what was expected, what
happened and a hint, rather than a bare ``AssertionError``. One module per lesson.
"""

from lab.checks.core import CheckFailed, call, expect, fail, passed
from lab.checks.l00 import check_00_new_texts, check_00_publish
from lab.checks.l01 import check_01_conditional_get, check_01_poll_and_count
from lab.checks.l02 import check_02_follow, check_02_handler
from lab.checks.l03 import check_03_encode, check_03_parse
from lab.checks.l04 import check_04_events_handler
from lab.checks.l05 import check_05_first_events
from lab.checks.l05_shards import check_05_shard
from lab.checks.l06 import check_06_accept_key, check_06_decode_frame, check_06_live
from lab.checks.l07 import check_07_room
from lab.checks.l08 import check_08_verdict, check_08_window_costs
from lab.checks.l09 import check_09_location
from lab.checks.l10 import check_10_publish, check_10_relay
from lab.checks.l11 import check_11_broadcaster
from lab.checks.l12 import check_12_handshake, check_12_stream
from lab.checks.l13 import check_13_decode_blocks, check_13_header_bytes
from lab.checks.l14 import check_14_presence

__all__ = [
    "CheckFailed",
    "call",
    "check_00_new_texts",
    "check_00_publish",
    "check_01_conditional_get",
    "check_01_poll_and_count",
    "check_02_follow",
    "check_02_handler",
    "check_03_encode",
    "check_03_parse",
    "check_04_events_handler",
    "check_05_first_events",
    "check_05_shard",
    "check_06_accept_key",
    "check_06_decode_frame",
    "check_06_live",
    "check_07_room",
    "check_08_verdict",
    "check_08_window_costs",
    "check_09_location",
    "check_10_publish",
    "check_10_relay",
    "check_11_broadcaster",
    "check_12_handshake",
    "check_12_stream",
    "check_13_decode_blocks",
    "check_13_header_bytes",
    "check_14_presence",
    "expect",
    "fail",
    "passed",
]
