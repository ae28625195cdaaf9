"""The fast path of `python -m runner`: MLflow imported in a forked worker, child runs logged
by two processes. Real subprocesses and real SQLite stores, read back with MlflowClient."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, all_runs, finished_children, run_cli, start_runner, store_at

pytestmark = pytest.mark.slow


def _runs(uri):
    client, runs = MlflowClient(uri), all_runs(uri)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {int(r.data.params["seed"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    return client, parents, children, runs


def test_two_logging_processes_log_what_one_does(tmp_path, migrated_store):
    stores = {}
    for n in (1, 2):
        uri = store_at(tmp_path / f"p{n}.db", migrated_store)
        out = run_cli(["seed=1..60", f"tracking.uri={uri}", f"tracking.processes={n}",
                       "luck.plots=false"], tmp_path)
        assert out.returncode == 0, out.stderr
        # The summary says how many processes logged the child runs: the fork really ran.
        assert ("logged by 2 processes" in out.stdout) == (n == 2), out.stdout
        stores[n] = _runs(uri)
    (c1, p1, one, _), (c2, p2, two, runs2) = stores[1], stores[2]
    assert sorted(one) == sorted(two) == list(range(1, 61))
    assert {r.info.status for r in runs2} == {"FINISHED"}
    assert p1[0].data.params == p2[0].data.params and p1[0].data.metrics == p2[0].data.metrics
    assert {r.data.tags["mlflow.parentRunId"] for r in two.values()} == {p2[0].info.run_id}
    for seed in one:
        assert one[seed].data.params == two[seed].data.params
        assert one[seed].data.metrics == two[seed].data.metrics
        assert one[seed].info.run_name == two[seed].info.run_name
    for seed in (1, 2, 59, 60):  # both processes' shares
        a = pd.read_csv(c1.download_artifacts(one[seed].info.run_id, "predictions.csv"))
        b = pd.read_csv(c2.download_artifacts(two[seed].info.run_id, "predictions.csv"))
        pd.testing.assert_frame_equal(a, b)


def test_a_broken_artifact_store_is_one_line_and_leaves_nothing_running(tmp_path, store):
    uri = store
    # Artifacts below a regular file: every artifact fails, even as root.
    (tmp_path / "not-a-folder").write_text("")
    MlflowClient(uri).create_experiment(
        "neuron-luck", artifact_location=str(tmp_path / "not-a-folder" / "artifacts"))
    out = run_cli(["seed=1..60", f"tracking.uri={uri}", "luck.plots=false"], tmp_path)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: MLflow logging failed"), out.stderr
    assert "FAILED with 0 of 60 child runs logged" in lines[0]
    _, parents, _, runs = _runs(uri)
    assert [p.info.status for p in parents] == ["FAILED"]
    assert "RUNNING" not in {r.info.status for r in runs}


# Each logging process (the worker and its helper, both forked from this script, so both
# patched) fails at its 10th child run; the main process runs the real entry point.
FLAKY = """
import runpy, sys
from runner.speedups.helpers import FastTracker
real, calls = FastTracker.write_artifact, [0]
def flaky(self, *args):
    calls[0] += 1
    if calls[0] == 10:
        raise OSError("disk full")
    return real(self, *args)
FastTracker.write_artifact = flaky
sys.argv = ["runner", *sys.argv[1:]]
runpy.run_module("runner", run_name="__main__")
"""


def test_a_failure_in_either_logging_process_fails_the_parent_and_a_rerun_completes(
        tmp_path, store):
    uri = store
    args = ["seed=1..60", f"tracking.uri={uri}", "luck.plots=false"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", FLAKY, *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk full" in lines[0], out.stderr
    assert "FAILED with 18 of 60 child runs logged" in lines[0]
    _, parents, children, runs = _runs(uri)
    assert [p.info.status for p in parents] == ["FAILED"]
    assert Counter(r.info.status for r in children.values()) == {"FINISHED": 18, "FAILED": 2}
    assert "RUNNING" not in {r.info.status for r in runs}

    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    _, parents, children, runs = _runs(uri)
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert sorted(children) == list(range(1, 61))
    assert {children[s].info.status for s in children} == {"FINISHED"}


def _worker_pid(pid, deadline):
    """The child process of `pid` (the MLflow worker), once it is there."""
    while time.monotonic() < deadline:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    raise AssertionError("no worker process appeared")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_is_reported_and_a_rerun_completes(tmp_path, store):
    uri = store
    args = ["seed=1..200", f"tracking.uri={uri}", "luck.plots=false"]
    proc = start_runner(args, tmp_path)
    deadline = time.monotonic() + 120
    worker = _worker_pid(proc.pid, deadline)
    db = tmp_path / "mlflow.db"
    while finished_children(db) < 20:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "the MLflow logging process ended unexpectedly" in err
    assert "Traceback" not in err
    # The worker's helper died with it (PR_SET_PDEATHSIG): the count stays put.
    settled = finished_children(db)
    time.sleep(1.0)
    assert finished_children(db) == settled < 200

    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    _, parents, children, _ = _runs(uri)
    assert sorted(children) == list(range(1, 201))
    assert [p.info.status for p in parents] == ["FINISHED"]


def test_ctrl_c_while_logging_marks_runs_failed_and_a_rerun_completes(tmp_path, store):
    uri = store
    db = tmp_path / "mlflow.db"
    args = ["seed=1..200", f"tracking.uri={uri}", "luck.plots=false"]
    proc = start_runner(args, tmp_path)
    deadline = time.monotonic() + 120
    while finished_children(db) < 20:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "Interrupted: the parent run, if any, is marked FAILED; run the same command again to "
        "log the rest."]
    _, parents, children, runs = _runs(uri)
    assert [p.info.status for p in parents] == ["FAILED"]
    # Each process finished the child it was writing: none is left RUNNING.
    assert "RUNNING" not in {r.info.status for r in runs}
    assert 20 <= len(children) < 200

    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    _, parents, children, _ = _runs(uri)
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert sorted(children) == list(range(1, 201))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_reaching_the_worker_first_says_how_to_resume(tmp_path, store):
    # Issue 22: when the worker answered a Ctrl-C before this process noticed its own, the
    # command ended "Error: MLflow logging failed (KeyboardInterrupt: )", exit 3, where
    # SIGTERM at the same moment said how to resume. The worker alone is interrupted here,
    # so the worker's answer comes first every time.
    uri = store
    db = tmp_path / "mlflow.db"
    args = ["seed=1..1000", f"tracking.uri={uri}", "luck.plots=false"]
    proc = start_runner(args, tmp_path)
    deadline = time.monotonic() + 120
    worker = _worker_pid(proc.pid, deadline)
    while finished_children(db) < 20:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(worker, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "Interrupted: the parent run, if any, is marked FAILED; run the same command again to "
        "log the rest."]
    _, parents, _, runs = _runs(uri)
    assert [p.info.status for p in parents] == ["FAILED"]
    assert "RUNNING" not in {r.info.status for r in runs}


def test_logging_processes_are_capped_at_the_cores(tmp_path, store):
    # Issue 15, item 10: a logging process beyond one per core only takes turns with the
    # others (and each extra one cost ~10 s at the end before the pipe fix).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    uri = store
    start = time.monotonic()
    out = run_cli(["seed=1..60", f"tracking.uri={uri}", "tracking.processes=4",
                   "luck.plots=false"], tmp_path)
    assert out.returncode == 0, out.stderr
    used = min(4, cores)
    assert (f"logged by {used} processes" in out.stdout) == (used > 1), out.stdout
    if used < 4:
        assert f"note             tracking.processes=4: {used} used, one per core" in out.stdout
    assert time.monotonic() - start < 60  # no process left to time out at the end
    seeds = sorted(int(r.data.params["seed"]) for r in all_runs(uri)
                   if "mlflow.parentRunId" in r.data.tags)
    assert seeds == list(range(1, 61))
