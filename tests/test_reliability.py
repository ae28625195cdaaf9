"""Crashes lose nothing, parallel jobs lose no run, credentials never leak (real processes)."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import (
    ROOT,
    all_runs,
    finished_children,
    free_port,
    need_module,
    run_cli,
    running_mlflow_server,
    start_runner,
)

pytestmark = pytest.mark.slow


def test_kill_9_in_the_middle_then_rerun_completes_without_duplicates(tmp_path, store):
    db = tmp_path / "mlflow.db"
    uri = store  # tmp_path/mlflow.db, made already
    args = ["seed=1..200", f"tracking.uri={uri}", "luck.plots=false"]
    proc = start_runner(args, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while finished_children(db) < 40:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    killed_at = finished_children(db)
    assert 40 <= killed_at < 200
    statuses = Counter(r.info.status for r in all_runs(uri))
    assert statuses["RUNNING"] >= 1  # the killed parent, left as it was

    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    runs = all_runs(uri)
    parents = [r for r in runs if r.data.tags.get("neuron_luck.kind") == "job"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    seeds = [int(c.data.params["seed"]) for c in children]
    assert sorted(seeds) == list(range(1, 201))  # every seed once, none twice
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}


@pytest.mark.parametrize("attempt", [1, 2])
def test_parallel_joblib_jobs_on_a_new_sqlite_store_lose_nothing(tmp_path, attempt):
    need_module("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run_cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4",
                   "activation=sigmoid,tanh,relu,elu", "seed=1..60", f"tracking.uri={uri}",
                   "luck.plots=false"], tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "database is locked" not in out.stderr
    runs = all_runs(uri)
    parents = [r for r in runs if r.data.tags.get("neuron_luck.kind") == "job"]
    assert len(parents) == 4
    for p in parents:
        kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == p.info.run_id]
        assert len(kids) == 60 and {k.info.status for k in kids} == {"FINISHED"}
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_unreachable_server_fails_fast_without_leaking_the_password(tmp_path):
    port = free_port()
    start = time.monotonic()
    out = run_cli(["seed=1..5", f"tracking.uri=http://alice:s3cret@127.0.0.1:{port}"], tmp_path)
    assert out.returncode == 2
    assert f"tracking.uri=http://alice:***@127.0.0.1:{port}: cannot reach" in out.stderr
    assert "s3cret" not in out.stderr + out.stdout
    assert time.monotonic() - start < 30
    assert not list(tmp_path.glob("outputs/*/*/seeds.parquet"))  # failed before evaluating


@pytest.fixture(scope="module")
def server(tmp_path_factory, migrated_store):
    """One MLflow server for the password tests (its start is ~5 s of CPU); each test logs
    to an experiment of its own, named after it."""
    with running_mlflow_server(tmp_path_factory.mktemp("server"), migrated_store) as url:
        yield url


def test_password_in_uri_is_never_logged_or_printed(tmp_path, server):
    secret_uri = server.replace("http://", "http://alice:s3cret@")
    out = run_cli(["seed=1..3", f"tracking.uri={secret_uri}", "tracking.experiment=printed"],
                  tmp_path)
    assert out.returncode == 0, out.stderr
    assert "s3cret" not in out.stdout + out.stderr
    # The job's page, as a browser opens it: no user, no '***' for a password.
    assert f"open the UI      {server}/#/experiments/" in out.stdout, out.stdout
    client = MlflowClient(server)
    runs = all_runs(server, "printed")
    assert len(runs) == 4
    dump = tmp_path / "dump"
    for r in runs:
        for value in [*r.data.params.values(), *r.data.tags.values()]:
            assert "s3cret" not in value
        client.download_artifacts(r.info.run_id, "", str(dump / r.info.run_id))
    texts = [p.read_bytes() for p in dump.rglob("*") if p.is_file()]
    assert len(texts) >= 10
    assert not [t for t in texts if b"s3cret" in t]


def test_redaction_touches_only_the_password_field(tmp_path, server):
    # Issue 15, item 6: every occurrence of the password's text was replaced: a password '1'
    # turned `low: -1.0` into `low: -***.0` and seed=1..3 into seed=***..3.
    secret_uri = server.replace("http://", "http://alice:1@")
    shown_uri = server.replace("http://", "http://alice:***@")
    out = run_cli(["seed=1..3", f"tracking.uri={secret_uri}", "luck.plots=false",
                   "tracking.experiment=redacted"], tmp_path)
    assert out.returncode == 0, out.stderr
    client = MlflowClient(server)
    parent = next(r for r in all_runs(server, "redacted")
                  if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.tags["neuron_luck.overrides"] == (
        f"seed=1..3 tracking.uri={shown_uri} luck.plots=false tracking.experiment=redacted")
    local = tmp_path / "dump"
    client.download_artifacts(parent.info.run_id, "", str(local))
    for name in ("config.yaml", "hydra/config.yaml"):
        text = (local / name).read_text()
        assert "low: -1.0" in text and "high: 1.0" in text, name
        assert f"uri: {shown_uri}" in text and secret_uri not in text, name
    overrides = (local / "hydra" / "overrides.yaml").read_text()
    assert f"- seed=1..3\n- tracking.uri={shown_uri}\n" in overrides


def test_a_password_only_in_the_environment_reaches_no_override(tmp_path, server):
    # Issue 15, item 5: the multirun callback copied $MLFLOW_TRACKING_URI, password and all,
    # into every job's overrides; Hydra printed them and kept them in multirun.yaml and
    # .hydra/. The jobs now get the URI without it, and the credentials in the environment.
    secret_uri = server.replace("http://", "http://alice:s3cret@")
    out = run_cli(["-m", "activation=sigmoid,tanh", "seed=1..3", "luck.plots=false",
                   "tracking.experiment=environment"], tmp_path,
                  env={"MLFLOW_TRACKING_URI": secret_uri})
    assert out.returncode == 0, out.stderr
    assert "s3cret" not in out.stdout + out.stderr
    assert f"tracking.uri='{server}'" in out.stdout + out.stderr
    files = [p for p in (tmp_path / "outputs").rglob("*") if p.is_file()]
    assert any(p.name == "multirun.yaml" for p in files)
    assert [p for p in files if b"s3cret" in p.read_bytes()] == []
    runs = all_runs(server, "environment")
    assert len([r for r in runs if r.data.tags.get("neuron_luck.kind") == "job"]) == 2
    for r in runs:
        assert not [v for v in [*r.data.params.values(), *r.data.tags.values()] if "s3cret" in v]


HEALTH_ONLY = '''
import socketserver, sys
from http.server import BaseHTTPRequestHandler

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.rstrip("/") == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
        else:
            self.close_connection = True  # hang up without an answer

    do_POST = do_GET

socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


@pytest.mark.parametrize("speedups", ["1", "0"], ids=["worker", "in-process"])
def test_a_server_that_fails_after_its_health_check_leaks_no_password(tmp_path, speedups):
    # Issue 15, item 4: MLflow's exception text carries the full URL; Tracker.__init__ ran
    # outside the redaction, and in-process nothing caught it: a traceback and the password.
    port = free_port()
    (tmp_path / "health_only.py").write_text(HEALTH_ONLY)
    server = subprocess.Popen([sys.executable, "health_only.py", str(port)], cwd=tmp_path,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        out = run_cli(["seed=1..3", f"tracking.uri=http://alice:s3cret@127.0.0.1:{port}",
                       "luck.plots=false"], tmp_path,
                      env={"NEURON_LUCK_SPEEDUPS": speedups,
                           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    assert out.returncode == 3, out.stderr
    assert "s3cret" not in out.stdout + out.stderr
    assert out.stderr.startswith("Error: MLflow logging failed before any run was logged (")
    assert f"http://alice:***@127.0.0.1:{port}/api/" in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "the results are complete in " in out.stderr


def _wait_for_children(db, proc, n):
    deadline = time.monotonic() + 120
    while finished_children(db) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("speedups", ["1", "0"], ids=["worker", "in-process"])
def test_sigterm_marks_the_parent_failed_and_says_how_to_resume(tmp_path, store, speedups):
    # Issue 15, item 12: SIGTERM left the parent RUNNING until a re-run.
    db = tmp_path / "mlflow.db"
    args = ["seed=1..200", f"tracking.uri={store}", "luck.plots=false"]
    proc = start_runner(args, tmp_path, {"NEURON_LUCK_SPEEDUPS": speedups})
    try:
        _wait_for_children(db, proc, 40)
        proc.send_signal(signal.SIGTERM)  # the main process only, as `kill PID` does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert "Terminated: the parent run, if any, is marked FAILED; run the same command " \
           "again to log the rest." in err
    assert "Traceback" not in err
    runs = all_runs(f"sqlite:///{db}")
    parent = next(r for r in runs if r.data.tags.get("neuron_luck.kind") == "job")
    assert parent.info.status == "FAILED"
    assert "RUNNING" not in {r.info.status for r in runs}
    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    children = [r for r in all_runs(f"sqlite:///{db}") if "mlflow.parentRunId" in r.data.tags]
    assert sorted(int(c.data.params["seed"]) for c in children) == list(range(1, 201))


def test_sigterm_while_hydra_starts_says_how_to_resume(tmp_path):
    # Issue 22: SIGTERM while Hydra loaded the multirun callback printed two tracebacks
    # ending in "module 'runner.sweep' has no attribute 'callback'", exit 1.
    # A job that outlasts the last signal (seed=1..3 untrained ended in 1.2 s on an idle
    # machine, before the signal, exit 0).
    args = ["-m", "tracking=off", "luck.plots=false", "seed=1..3", "mode=train",
            "trainer.epochs=1000000"]
    said = 0
    for delay in (0.4, 0.6, 0.8, 1.0, 1.2, 1.5):
        proc = start_runner(args, tmp_path)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)  # the main process only, as `kill PID` does
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        # Before Python runs runner/__main__.py, the signal's own default: ended, no word.
        assert proc.returncode in (143, -signal.SIGTERM), err
        assert "Traceback" not in err and "Error" not in err, err
        if proc.returncode == 143:
            assert err.strip().splitlines()[-1] == (
                "Terminated: the parent run, if any, is marked FAILED; run the same command "
                "again to log the rest."), err
            said += 1
    assert said >= 4


def test_a_stop_a_library_turned_into_another_exception_still_stops_the_sweep(tmp_path):
    """SIGTERM landing inside an import's try/finally in the multirun callback came out as an
    UnboundLocalError, which Hydra only warns about: the jobs ran, exit 0."""
    script = """
import sys
from runner.errors import Terminated, note_stop
from runner.sweep import callback

def stopped_inside_a_library(config):
    note_stop(Terminated())  # as runner.__main__'s SIGTERM handler does
    raise UnboundLocalError("cannot access local variable 'module'")

callback.check_jobs = stopped_inside_a_library
try:
    callback.SweepCallback().on_multirun_start(config=None)
except Terminated:
    sys.exit(143)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 143, out.stderr


def test_a_killed_helper_is_counted_from_the_store(tmp_path, store):
    # Issue 15, item 12: with a helper process killed, the message counted its share as
    # not logged ("200 of 400" when 226 were stored).
    db = tmp_path / "mlflow.db"
    args = ["seed=1..200", f"tracking.uri={store}", "luck.plots=false"]
    proc = start_runner(args, tmp_path, {"NEURON_LUCK_WORKER": "0"})
    try:
        _wait_for_children(db, proc, 40)
        helpers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                 text=True).stdout.split()
        assert len(helpers) == 1  # tracking.processes=2: one helper beside this process
        os.kill(int(helpers[0]), signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 3, err
    stored = finished_children(db)
    assert f"with {stored} of 200 child runs logged" in err, (stored, err)


def test_a_full_disk_says_so_in_one_line_and_leaves_no_truncated_file(tmp_path):
    # Issue 22, item 11: a run folder on a full disk ended in a traceback and left a
    # truncated predictions.parquet under its own name. A file-size limit stands in for the
    # full disk (no mount needed): the same write calls fail, with EFBIG instead of ENOSPC.
    import resource

    import pandas as pd

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))

    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env.pop("HYDRA_FULL_ERROR", None)
    out = subprocess.run(
        [sys.executable, "-m", "runner", "seed=1..300", "tracking=off", "luck.plots=false",
         f"hydra.run.dir={run}"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, preexec_fn=small_disk)
    assert out.returncode == 3, out.stderr
    assert out.stderr.splitlines() == [
        f"Error: the run folder could not be written: {run / 'predictions.parquet'}: File too "
        "large; free space there (or run elsewhere: hydra.run.dir=PATH) and run the same "
        "command again. Nothing was logged to MLflow"]
    assert "Traceback" not in out.stdout
    # What was written is whole; what was not is not there, under any name.
    assert sorted(p.name for p in run.iterdir() if p.name != ".hydra") == \
        sorted(["seeds.parquet", *(p.name for p in run.glob("*.log"))])
    assert pd.read_parquet(run / "seeds.parquet")["seed"].tolist() == list(range(1, 301))
