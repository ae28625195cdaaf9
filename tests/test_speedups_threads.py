"""runner.speedups.imap_threads: the plain path's results, order and numpy error state."""

import numpy as np
import pytest

from runner import speedups


@pytest.mark.parametrize("enabled", ["1", "0"], ids=["threads", "plain"])
def test_results_come_in_order_under_the_callers_numpy_error_state(monkeypatch, enabled):
    monkeypatch.setenv("NEURON_LUCK_SPEEDUPS", enabled)
    assert list(speedups.imap_threads(lambda x: x * x, range(50))) == [x * x for x in range(50)]
    # A pool thread does not inherit the caller's np.errstate unless it runs in its context:
    # an overflow the caller made an error was only a warning there.
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        list(speedups.imap_threads(lambda x: np.exp(np.array([x])), [1.0, 1000.0, 2.0]))
    with np.errstate(over="ignore"):
        out = list(speedups.imap_threads(lambda x: np.exp(np.array([x])), [1000.0]))
    assert np.isinf(out[0]).all()


def test_an_error_in_one_item_is_raised_and_the_threads_stop(monkeypatch):
    import threading

    monkeypatch.setenv("NEURON_LUCK_SPEEDUPS", "1")

    def fail_on_three(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        list(speedups.imap_threads(fail_on_three, range(20)))
    assert not [t for t in threading.enumerate() if t.name.startswith("neuron-luck")]
