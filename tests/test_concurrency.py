"""Two processes on the same job log each seed once (issue 15, item 1): real processes, real
stores (SQLite, and an mlflow server for the lease kept in the store)."""

import os
import sqlite3
import subprocess
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, all_runs, run_cli, start_runner

pytestmark = pytest.mark.slow

SEEDS = 60


def _env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "HYDRA_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _start(args, cwd):
    return start_runner(args, cwd)


def _finished_in(db, experiment) -> int:
    """FINISHED child runs of `experiment`, read-only (safe while the store is written)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute(
                "select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                "join experiments e on r.experiment_id = e.experiment_id "
                "where t.key = 'mlflow.parentRunId' and r.status = 'FINISHED' "
                "and e.name = ? and r.lifecycle_stage = 'active'", (experiment,)
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _seeds_and_parents(uri, experiment="neuron-luck"):
    runs = all_runs(uri, experiment)
    parents = [r for r in runs if r.data.tags.get("neuron_luck.kind") in ("job", "sweep")]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return Counter(int(c.data.tags["neuron_luck.seed"]) for c in children), parents, children


def _each_seed_once(uri, experiment, n):
    seeds, parents, children = _seeds_and_parents(uri, experiment)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED", \
        [(p.info.run_id, p.info.status) for p in parents]
    dupes = {s: k for s, k in seeds.items() if k > 1}
    assert not dupes, f"{len(dupes)} seeds logged more than once"
    assert sorted(seeds) == list(range(1, n + 1))
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}


def test_two_identical_commands_at_once_log_each_seed_once(tmp_path, store):
    """Twice: a command, and the same command again once the first is part-way through its
    child runs, or as soon as it has started them; together, each seed once. (20 times until
    the slow set had to fit in 6 minutes: 40 processes, a fifth of it. The code before the
    job lock logged duplicates or two parents every time, in either kind of pair.)"""
    db = tmp_path / "mlflow.db"
    uri = store
    for i in range(2):
        experiment = f"pair-{i}"
        args = [f"seed=1..{SEEDS}", f"tracking.uri={uri}", f"tracking.experiment={experiment}",
                "luck.plots=false"]
        first = _start(args, tmp_path)
        mid = 1 if i % 2 else SEEDS // 3  # the second starts at once, or a third of the way
        deadline = time.monotonic() + 120
        while _finished_in(db, experiment) < mid and first.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert first.poll() is None, "the first ended before the second started"
        second = _start(args, tmp_path)
        outs = [p.communicate(timeout=300) for p in (first, second)]
        for p, (_, err) in zip((first, second), outs, strict=True):
            assert p.returncode == 0, err
        _each_seed_once(uri, experiment, SEEDS)
        # The second reported the first's parent.
        parent = _seeds_and_parents(uri, experiment)[1][0].info.run_id
        assert all(parent in out for out, _ in outs)


def test_joblib_jobs_of_one_job_key_log_each_seed_once(tmp_path, store):
    uri = store
    out = run_cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1..100,1..100",
                   f"tracking.uri={uri}", "luck.plots=false"], tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    _each_seed_once(uri, "neuron-luck", 100)


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_jobs_that_differ_only_in_chunk_size_log_each_seed_once(tmp_path, store, launcher):
    # The job key ignores chunk_size: these two jobs are one computation.
    uri = store
    out = run_cli(["-m", f"hydra/launcher={launcher}", f"seed=1..{SEEDS}",
                   "chunk_size=100,5000", f"tracking.uri={uri}", "luck.plots=false"],
                  tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    _each_seed_once(uri, "neuron-luck", SEEDS)


def test_a_rerun_heals_duplicates_left_by_older_versions(tmp_path, store, make_cfg):
    """What a version before issue 15 could leave: under one unfinished parent the same seed
    finished twice and a child left RUNNING; a second unfinished parent with the same key;
    a finished parent with a duplicated seed. A re-run leaves each seed once."""
    from runner.plan import job_key

    uri = store
    args = ["seed=1..8", f"tracking.uri={uri}", "luck.plots=false"]
    key = job_key(make_cfg(*args))
    client = MlflowClient(uri)
    exp = client.create_experiment("neuron-luck")

    def parent(status):
        run = client.create_run(exp, tags={"neuron_luck.kind": "sweep",
                                           "neuron_luck.job_key": key})
        client.set_terminated(run.info.run_id, status)
        return run.info.run_id

    def child(parent_id, seed, status):
        run = client.create_run(exp, tags={"mlflow.parentRunId": parent_id,
                                           "neuron_luck.seed": str(seed)})
        client.log_param(run.info.run_id, "seed", seed)
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)

    old_finished = parent("FINISHED")
    for seed in (1, 2, 2, 3):
        child(old_finished, seed, "FINISHED")
    child(old_finished, 4, "RUNNING")
    first = parent("FAILED")
    for seed, status in ((1, "FINISHED"), (2, "FINISHED"), (2, "FINISHED"), (3, "RUNNING"),
                         (5, "FINISHED"), (5, "FAILED")):
        child(first, seed, status)
    second = parent("RUNNING")
    child(second, 7, "FINISHED")

    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    runs = all_runs(uri)
    parents = {r.info.run_id: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    # The unfinished parent with the most seeds logged was completed; the other deleted.
    assert set(parents) == {old_finished, first}
    assert parents[first].info.status == "FINISHED"
    by_parent = Counter((r.data.tags["mlflow.parentRunId"], r.data.tags["neuron_luck.seed"])
                        for r in runs if "mlflow.parentRunId" in r.data.tags)
    assert sorted(int(s) for p, s in by_parent if p == first) == list(range(1, 9))
    assert sorted(int(s) for p, s in by_parent if p == old_finished) == [1, 2, 3]
    assert set(by_parent.values()) == {1}
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {p.data.tags["neuron_luck.kind"] for p in parents.values()} == {"job"}


@pytest.fixture
def quick_lease(monkeypatch):
    from runner import limits

    monkeypatch.setattr(limits, "LEASE_SETTLE_SECONDS", 0.05)
    monkeypatch.setattr(limits, "LEASE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(limits, "LEASE_REFRESH_SECONDS", 0.0)


def _stop_after(polls):
    asked = []
    return lambda: asked.append(1) or len(asked) >= polls


def test_a_lease_in_the_store_is_held_waited_for_and_taken_over(store, quick_lease):
    """The lease for stores other machines share (runner.tracking.lease.StoreLease), on a
    real store: one holder at a time; taken over only from an owner that is gone."""
    import socket

    from runner.tracking.lease import LeaseLost, Owner, StoreLease

    client = MlflowClient(store)
    exp = client.create_experiment("neuron-luck")
    first = StoreLease(client, exp, "k1")
    assert first.acquire() is False  # free: held at once
    second = StoreLease(client, exp, "k1")
    with pytest.raises(KeyboardInterrupt):  # the owner is alive: the second waits
        second.acquire(_stop_after(5))
    assert StoreLease(client, exp, "k2").acquire() is False  # another job: its own lease
    first.refresh()
    first.release()
    assert second.acquire() is False and second.holder().token == second.token

    # The owner's process is dead (this host): taken over at once.
    dead = subprocess.Popen(["true"])
    dead.wait()
    client.set_experiment_tag(exp, second.tag,
                              Owner(socket.gethostname(), dead.pid, "t0", time.time()).text())
    with pytest.raises(LeaseLost):  # and the process that lost it stops at its next refresh
        second.refresh()
    third = StoreLease(client, exp, "k1")
    assert third.acquire() is False and third.holder().token == third.token

    # Another host: waited for while its heartbeat is fresh, taken over once it is stale.
    from runner import limits

    fresh = Owner("elsewhere", 1, "t1", time.time()).text()
    client.set_experiment_tag(exp, third.tag, fresh)
    fourth = StoreLease(client, exp, "k1")
    with pytest.raises(KeyboardInterrupt):
        fourth.acquire(_stop_after(5))
    stale = Owner("elsewhere", 1, "t1", time.time() - limits.LEASE_EXPIRY_SECONDS - 1).text()
    client.set_experiment_tag(exp, third.tag, stale)
    assert fourth.acquire() is False and fourth.holder().token == fourth.token
    fourth.release()
    assert fourth.holder() is None


def test_two_identical_commands_on_a_tracking_server_log_each_seed_once(tmp_path, mlflow_server):
    """The same through an HTTP server, where the lease is kept in the store."""
    n = 60
    for i in range(2):
        experiment = f"pair-{i}"
        args = [f"seed=1..{n}", f"tracking.uri={mlflow_server}",
                f"tracking.experiment={experiment}", "luck.plots=false"]
        first = _start(args, tmp_path)
        deadline = time.monotonic() + 120
        while _finished_in(tmp_path / "server.db", experiment) < 10 * i + 1:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = _start(args, tmp_path)
        outs = [p.communicate(timeout=300) for p in (first, second)]
        for p, (_, err) in zip((first, second), outs, strict=True):
            assert p.returncode == 0, err
        _each_seed_once(mlflow_server, experiment, n)
        assert "waiting for it to end" in outs[1][1]
