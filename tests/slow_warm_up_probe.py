"""A probe with a slow one-time setup: the seam must run its warm-up outside the call's time limit
(``test_sandbox.py::test_a_probes_warm_up_does_not_count_against_its_time_limit``)."""

import time

ready = False


def slow_warm_up():
    global ready
    time.sleep(1.5)
    ready = True


def quick_probe():
    if not ready:  # nobody warmed it up: the setup runs inside the timed call
        slow_warm_up()
    return "answered"


quick_probe.warm_up = slow_warm_up
