import compileall
import contextlib
import copy
import fcntl
import gc
import importlib.util
import io
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from runner.config import register_configs, to_config

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


def pytest_configure(config):
    """Compile the project's own modules once, before the workers start. With
    PYTHONDONTWRITEBYTECODE set (this machine and CI set it) nothing writes bytecode on import,
    so every worker and every `python -m runner` a test starts compiled runner/ and neuron/ from
    source again: ~8 s of the test command's wall time in a fresh checkout (59.9 s against
    52.0 s). Python reads bytecode under that setting; it only never writes it. pip compiles
    installed packages the same way; an editable install leaves the project's files to us. The
    caches are git-ignored and rebuilt only for a file whose source changed."""
    if hasattr(config, "workerinput"):
        return
    for package in ("runner", "neuron", "tests"):
        compileall.compile_dir(ROOT / package, quiet=2, workers=1)
    if config.getoption("numprocesses", None):
        config.stash[_KERNELS] = subprocess.Popen(
            [sys.executable, "-c", _COMPILE_KERNELS], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# numba's kernels (neuron/compiled.py), compiled once into numba's cache while the workers
# collect: in a fresh checkout, whose cache is empty, each worker compiled the ones its tests
# reached, the same ~6 s of compiling twice (the test command 62 s against 55 s with the
# cache filled). A worker reaching a kernel first still compiles it itself; numba writes its
# cache files whole (a temporary file renamed), so neither reads half of one.
_KERNELS = pytest.StashKey[subprocess.Popen]()
_COMPILE_KERNELS = """
import numpy as np
from neuron import compiled
compiled.warm_up()
x = np.zeros(2)
compiled.elementwise("exp", x)
compiled.gelu_both(x, x.copy(), x.copy())
"""


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """The tests are done (and pytest's last garbage collection, which reports what objects'
    finalizers raised, is behind us): freeze what is left, so that the interpreter's own
    collections at exit do not walk it again. A worker that ran MLflow, Hydra and pandas
    holds ~500,000 objects: ~2 s to exit otherwise, which the session waited for."""
    kernels = config.stash.get(_KERNELS, None)
    if kernels is not None and kernels.poll() is None:  # a short run: not needed
        kernels.kill()
        kernels.wait()
    gc.freeze()


# The order the files are handed out in (--no-loadscope-reorder), each file to one xdist
# worker (--dist loadfile) as workers come free. The longest first (a sum of their tests'
# durations, measured on 2 cores): the UI's sweep (~2 minutes) handed out last ran alone at
# the end of the slow set while the other core idled, ~40 s of its wall time. Then the files
# whose tests train through numba's kernels: in a fresh checkout the kernels take ~23 s to
# compile beside the workers (_COMPILE_KERNELS), and a worker reaching one before that
# compiles it again itself (xdist's own order, most tests first, began with
# test_minibatch.py: the test command 60.2 s cold against 47.5 s warm). The many short files
# last, which even out the two workers' ends.
LONGEST_FIRST = ("test_ui.py", "test_launchers.py", "test_reliability.py",
                 "test_concurrency.py", "test_job.py", "test_bad_input.py", "test_cli.py",
                 "test_config.py", "test_plots.py", "test_train_mode.py", "test_hidden_layers.py")
KERNELS_NEXT = ("test_splits.py", "test_startup.py", "test_minibatch.py", "test_network.py",
                "test_compiled.py")


def pytest_collection_modifyitems(config, items):
    """Files in the order above (the same in every worker, which xdist checks)."""
    order = (*LONGEST_FIRST, *KERNELS_NEXT)
    rank = {name: i for i, name in enumerate(order)}
    items.sort(key=lambda item: rank.get(item.path.name, len(order)))


# Overrides → the config Hydra composed for them, in this process; never handed out itself.
_COMPOSED = {}


@pytest.fixture(scope="session")
def _configs_registered():
    """The app's schemas in Hydra's ConfigStore (which keeps them for the process), once."""
    register_configs()


@pytest.fixture
def compose_cfg(_configs_registered):
    """Compose the app's config with overrides, as `python -m runner` would: a DictConfig.

    Composing takes Hydra ~0.1 s, the same each time for the same overrides (the same `conf/`
    files and schemas); the test gets its own deep copy of the config composed the first time
    it was asked for (a failed composition is not kept: it fails again).
    """

    def _compose(*overrides):
        GlobalHydra.instance().clear()
        key = tuple(overrides)
        if key not in _COMPOSED:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                _COMPOSED[key] = compose(config_name="config", overrides=list(overrides))
        return copy.deepcopy(_COMPOSED[key])

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def make_cfg(compose_cfg):
    """The composed config as the typed objects a job takes (runner.config.Config), without
    the PNG plots unless the test asks for them (luck.plots=true): drawing them takes
    matplotlib ~0.8 s a job, and tests/test_plots.py and test_summary.py are about them."""

    def _make(*overrides):
        if not any(o.lstrip("+~").startswith("luck.plots") for o in overrides):
            overrides = (*overrides, "luck.plots=false")
        return to_config(compose_cfg(*overrides))

    return _make


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory, worker_id) -> Path:
    """A new SQLite MLflow store with its tables made, once for the whole session.

    MLflow creates a store by running its ~50 alembic migrations: 2 to 7 s a store, which was
    most of the time of a test that logs a job. The first worker to get here makes it (under a
    lock, in the folder every xdist worker of the session shares); tests get a copy.
    """
    from mlflow.tracking import MlflowClient

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    path = shared / "migrated-mlflow.db"
    with open(shared / "migrated-mlflow.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            made = tmp_path_factory.mktemp("migrating") / "mlflow.db"
            MlflowClient(f"sqlite:///{made}").search_experiments(max_results=1)
            # SQLite's backup: one consistent file, whatever MLflow's pool still holds open
            # and whether or not the store went to WAL.
            part = shared / "migrated-mlflow.db.part"
            with sqlite3.connect(made) as src, sqlite3.connect(part) as dst:
                src.backup(dst)
            os.replace(part, path)
    return path


def store_at(db: Path, migrated: Path) -> str:
    """The SQLite tracking URI of `db`, made a new, empty MLflow store: a copy of `migrated`
    (the session's `migrated_store`), as MLflow would have made it."""
    shutil.copyfile(migrated, db)
    return f"sqlite:///{db}"


@pytest.fixture
def store(tmp_path, migrated_store):
    """A SQLite tracking URI in the test's folder, tmp_path/mlflow.db: a new, empty store."""
    return store_at(tmp_path / "mlflow.db", migrated_store)


def engine_missing(what: str):
    """Skip a test whose engine (a launcher, PostgreSQL, a browser) is not installed, saying
    how to get it; under NEURON_LUCK_ENGINES=require (CI) fail it instead."""
    if os.environ.get("NEURON_LUCK_ENGINES") == "require":
        pytest.fail(f"{what} (NEURON_LUCK_ENGINES=require)")
    pytest.skip(what)


def need_module(module: str, package: str, extra: str = "engines"):
    """engine_missing unless `module` can be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing too
        found = False
    if not found:
        engine_missing(f"{package} is not installed (pip install -e '.[{extra}]')")


def run_cli(args, cwd, env=None, timeout=300):
    """`python -m runner ARGS` in a subprocess, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.pop("HYDRA_FULL_ERROR", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


@contextlib.contextmanager
def _as_a_command(args, cwd):
    """This process set up as `python -m runner ARGS` in `cwd` would be, and put back after;
    yields the exit code, stdout and stderr to be, as a CompletedProcess."""
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    done = subprocess.CompletedProcess(args, 0, "", "")
    out, err = io.StringIO(), io.StringIO()
    try:
        for k in [k for k in os.environ if k.startswith("MLFLOW_")]:
            del os.environ[k]
        for k in ("HYDRA_FULL_ERROR", "NEURON_LUCK_FULL_ERROR"):
            os.environ.pop(k, None)
        os.chdir(cwd)
        sys.argv = ["runner", *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                yield done
            except SystemExit as e:
                done.returncode = e.code if isinstance(e.code, int) else int(e.code is not None)
            except Exception:  # what a real process would print and end with
                traceback.print_exc()
                done.returncode = 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        GlobalHydra.instance().clear()
        done.stdout, done.stderr = out.getvalue(), err.getvalue()


def run_in_process(args, cwd):
    """`python -m runner ARGS` in this process (runner.__main__.run, Hydra's run included),
    for what a fresh process changes nothing in: its exit code, stdout and stderr as run_cli
    gives them."""
    import runner.__main__ as entry

    with _as_a_command(args, cwd) as done:
        entry.run(list(args))
    return done


def run_composed(args, cwd):
    """run_in_process, with Hydra's Compose API in place of Hydra's run: the command line
    checked, the config composed, the job (runner.__main__.job). A third of the time, for the
    many commands refused by the job; what Hydra's run adds (the run folder, its logging, a
    multirun) needs run_in_process or run_cli."""
    import runner.__main__ as entry

    with _as_a_command(args, cwd) as done:
        entry.before_hydra(list(args))
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=list(args))
        entry.job(cfg, Path(cwd) / "outputs" / "composed", list(args))
    return done


def start_runner(args, cwd, env=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    """`python -m runner ARGS` started and not waited for (a test that signals or kills it):
    the checkout importable, none of the caller's MLFLOW_* or HYDRA_* settings, `env` added;
    in a session of its own, so os.killpg(proc.pid, …) reaches every process it started."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HYDRA_"))}
    full.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=cwd, env=full,
                            stdout=stdout, stderr=stderr, text=True, start_new_session=True)


def finished_children(db) -> int:
    """FINISHED child runs in the SQLite store `db`, read with plain sqlite3 in read-only mode.

    Safe to poll while a runner creates the store: an MlflowClient could try to create the
    same tables at the same moment and collide with it.
    """
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute(
                "select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                "where t.key = 'mlflow.parentRunId' and r.status = 'FINISHED'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the store is still being created


def all_runs(uri, experiment="neuron-luck"):
    """Every run of `experiment` in the store at `uri`, read back through MlflowClient."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=50_000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, migrated_store):
    """A real `mlflow server` on 127.0.0.1 over tmp_path/server.db (a copy of
    `migrated_store`: the server starts without running MLflow's migrations, ~5 s); yields
    its URL."""
    with running_mlflow_server(tmp_path, migrated_store) as url:
        yield url


@contextlib.contextmanager
def running_mlflow_server(folder: Path, migrated_store: Path):
    """`mlflow server` on 127.0.0.1 over folder/server.db, a copy of `migrated_store`, its
    artifacts in folder/server-artifacts; yields its URL, and stops it by its process group."""
    backend = store_at(folder / "server.db", migrated_store)
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", backend,
         "--artifacts-destination", str(folder / "server-artifacts")],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
