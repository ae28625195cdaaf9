"""runner.speedups.processes: forked children that talk through a pipe, and end cleanly."""

import os
import threading
import time

import pytest

from runner.speedups.processes import ChildEnded, Forked, can_fork

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")


def echo(conn):
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        conn.send(("echo", message))


def die(conn):
    os._exit(7)


def test_a_child_answers_and_ends_when_its_pipe_closes():
    child = Forked(echo, name="echo")
    child.conn.send(41)
    assert child.receive("echo") == ("echo", 41)
    start = time.monotonic()
    child.close()
    assert child.process.exitcode == 0 and time.monotonic() - start < 5


def test_a_child_that_dies_is_reported_with_its_exit_code():
    child = Forked(die, name="die")
    with pytest.raises(ChildEnded, match=r"the dying child ended unexpectedly \(exit code 7\)"):
        child.receive("the dying child")
    child.close()


def test_a_child_does_not_hold_its_older_siblings_pipes_open():
    # Each child closes its copies of the pipes to the children forked before it: else
    # closing the first child's pipe would not reach it while the later ones live, and
    # every close would wait out its timeout (tracking.processes=100 hung for minutes).
    children = [Forked(echo, name=f"echo-{i}") for i in range(6)]
    start = time.monotonic()
    for child in children:
        child.close()
    assert time.monotonic() - start < 5
    assert [c.process.exitcode for c in children] == [0] * 6


def test_no_fork_while_another_thread_runs():
    # Earlier tests in this process may have left threads (MLflow's, for one).
    assert can_fork() == (threading.active_count() == 1)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        thread.join()


SHARED_OUT = """
import os, sys, numpy as np
from neuron import activations, initializers, network
from runner import speedups
rng = np.random.default_rng(0)
X, y = rng.normal(size=(60, 2)), (rng.random(60) < 0.4).astype(float)
layers = tuple(network.Layer(W, b) for W, b in initializers.draw_layers(
    np.arange(12), network.sizes(2, [4]), initializers.Draw("uniform"),
    initializers.Draw("uniform")))
def one(sl):
    r = network.train(X, y, network.take(layers, sl), activations.get("tanh"), epochs=30)
    return os.getpid(), r
slices = [slice(i, i + 3) for i in range(0, 12, 3)]
shared = speedups.map_chunks(one, slices)
alone = [one(sl) for sl in slices]
assert len({pid for pid, _ in shared}) == min(len(slices), os.cpu_count()), "not shared out"
for (_, a), (_, b) in zip(shared, alone):
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)
    assert np.array_equal(a.losses, b.losses)
print("same")
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing is shared out")
def test_chunks_shared_out_over_processes_give_what_one_process_gives():
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-c", SHARED_OUT], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "same"
