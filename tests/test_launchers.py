"""Hydra's launchers against real engines on 127.0.0.1.

One PostgreSQL cluster (initdb into a temporary folder) and one `mlflow server` on it serve the
whole module. Each test runs the same sweep, 4 activations x 100 seeds, through one launcher
(joblib, submitit_local, Ray attached to a `ray start --head` cluster) as a user runs it, then
reads every run back over the server's REST API. Every process a test starts is stopped by its
own process id (or process group) afterwards.

The engines are optional: a machine without PostgreSQL's binaries, Ray or a launcher plugin
skips the test that needs it, unless NEURON_LUCK_ENGINES=require (CI) turns the skip into a
failure. The seed-range splitter's tests need no engine.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import pytest

from runner.errors import UserError
from runner.split import main as split_main
from runner.split import split
from tests.conftest import ROOT, engine_missing, run_cli

ACTIVATIONS = ["sigmoid", "tanh", "relu"]  # 3 jobs: with n_jobs=2, one waits for a slot
N_SEEDS = 30  # 3 jobs x 30 seeds: 94 runs through the server (a launcher's test ~30 s)
# The jobs talk HTTP to the server, so only the server connects to PostgreSQL. NullPool: one
# connection per request in flight (a job makes one request at a time), none held idle.
# A small pool (POOL_SIZE=2, MAX_OVERFLOW=1) was faster on a busy machine (25 s against 44 s
# for the joblib sweep: NullPool opens a connection, password exchange and all, per request;
# about even when idle) but with four
# submitit jobs at once the server's requests waited 30 s for a pooled connection and failed
# ("QueuePool limit of size 2 overflow 1 reached"). MAX_OVERFLOW=0 is ignored by MLflow.
SERVER_POOL = {"MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool"}
MAX_CONNECTIONS = 30  # PostgreSQL's limit here (3 of them reserved for superusers)


def _missing(what: str):
    engine_missing(f"{what}; the launchers and the server's driver: pip install -e '.[engines]'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, timeout, what, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        if check():
            return
        time.sleep(0.25)
    tail = Path(log).read_text(errors="replace")[-3000:] if log and Path(log).exists() else ""
    raise RuntimeError(f"{what} did not come up in {timeout} s\n{tail}")


def _stop_group(proc: subprocess.Popen, timeout=30):
    """SIGTERM the process group `proc` leads (it was started in a new session), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still left
    except ProcessLookupError:
        pass
    proc.wait(10)


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line mentions `text` (a temporary folder of ours)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if text in (d / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    """Where initdb, pg_ctl and psql are: Debian keeps them off PATH, per major version."""
    found = shutil.which("pg_ctl")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        candidates.append(str(Path(os.path.realpath(found)).parent))
    for d in reversed(candidates):
        if all((Path(d) / b).exists() for b in ("initdb", "pg_ctl", "psql")):
            return Path(d)
    return None


@pytest.fixture(scope="module")
def postgres():
    with running_postgres() as uri:
        yield uri


@contextmanager
def running_postgres():
    """A PostgreSQL cluster of its own on 127.0.0.1:<free port>; yields a database URI."""
    bindir = _pg_bindir()
    if bindir is None:
        _missing("PostgreSQL is not installed (apt-get install -y postgresql)")
    if find_spec("psycopg") is None:
        _missing("psycopg 3 is not installed (pip install 'psycopg[binary]')")
    as_postgres: list[str] = []
    # initdb and postgres refuse to run as root: run them as the `postgres` user.
    root = os.geteuid() == 0
    if root:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        pw = pwd.getpwnam("postgres")
    base = Path(tempfile.mkdtemp(prefix="nl-pg-"))  # not under pytest's root-only tmp
    data, sock, log = base / "data", base / "sock", base / "postgres.log"
    sock.mkdir()
    password = uuid.uuid4().hex
    (base / "pwfile").write_text(password + "\n")
    if root:
        for p in (base, sock, base / "pwfile"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = _free_port()

    def pg(*args, **kw):
        return subprocess.run([*as_postgres, *args], capture_output=True, text=True,
                              timeout=120, **kw)

    out = pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", f"--pwfile={base / 'pwfile'}", "-E", "UTF8",
             "--locale=C.UTF-8")
    if out.returncode != 0:
        out = pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                 "--auth-local=trust", "--auth-host=scram-sha-256",
                 f"--pwfile={base / 'pwfile'}", "-E", "UTF8", "--locale=C")
    assert out.returncode == 0, out.stdout + out.stderr
    opts = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} "
            f"-c max_connections={MAX_CONNECTIONS} -c fsync=off")
    out = pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w",
             "-t", "60", "start")
    pid = None
    try:
        assert out.returncode == 0, out.stdout + out.stderr + log.read_text()
        pid = int((data / "postmaster.pid").read_text().split()[0])
        out = pg(str(bindir / "psql"), "-h", str(sock), "-p", str(port), "-U", "postgres",
                 "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE mlflow")
        assert out.returncode == 0, out.stdout + out.stderr
        yield f"postgresql+psycopg://postgres:{password}@127.0.0.1:{port}/mlflow"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)  # still there: pg_ctl could not stop it
            except ProcessLookupError:
                pass
        shutil.rmtree(base, ignore_errors=True)


# --- the MLflow server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(postgres):
    with running_mlflow_server(postgres) as url:
        yield url


@contextmanager
def running_mlflow_server(backend_uri: str, pool_env=None):
    """`mlflow server` on the PostgreSQL store, one worker, artifacts proxied to a folder."""
    base = Path(tempfile.mkdtemp(prefix="nl-mlflow-"))
    port = _free_port()
    log = base / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # No background job runner (it spawns workers of its own).
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    env.update(SERVER_POOL if pool_env is None else pool_env)
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--backend-store-uri", backend_uri,
             "--artifacts-destination", str(base / "artifacts")],
            cwd=base, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        _wait_for(healthy, 180, "mlflow server", proc, log)
        yield url
    finally:
        _stop_group(proc)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def counting_connections(db_uri: str):
    """Polls pg_stat_activity while the block runs; yields a dict whose "peak" is the most
    connections to the database seen at once."""
    import threading

    import psycopg

    dsn = db_uri.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    seen = {"peak": 0}
    stop = threading.Event()

    def poll():
        with psycopg.connect(dsn + "/postgres", autocommit=True) as conn:
            while not stop.is_set():
                (n,) = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE datname = 'mlflow'").fetchone()
                seen["peak"] = max(seen["peak"], n)
                stop.wait(0.05)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        yield seen
    finally:
        stop.set()
        t.join(10)


def _post(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def _get(url, path):
    with urllib.request.urlopen(url + path, timeout=60) as r:
        return r.read()


def _runs_of(url, experiment: str) -> list[dict]:
    """Every run of `experiment`, over the REST API, with tags and params as dicts."""
    exp = json.loads(_get(url, "/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                          + urllib.request.quote(experiment)))["experiment"]
    runs, token = [], None
    while True:
        body = {"experiment_ids": [exp["experiment_id"]], "max_results": 1000,
                "run_view_type": "ALL"}
        if token:
            body["page_token"] = token
        page = _post(url, "/api/2.0/mlflow/runs/search", body)
        for r in page.get("runs", []):
            data = r.get("data", {})
            runs.append({
                "id": r["info"]["run_id"], "status": r["info"]["status"],
                "artifact_uri": r["info"]["artifact_uri"],
                "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
                "params": {p["key"]: p["value"] for p in data.get("params", [])},
                "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
            })
        token = page.get("next_page_token")
        if not token:
            return runs


def _artifact(url, run: dict, name: str) -> bytes:
    """A run's artifact through the server's artifact proxy (mlflow-artifacts:/…)."""
    root = run["artifact_uri"]
    assert root.startswith("mlflow-artifacts:/"), root
    return _get(url, "/api/2.0/mlflow-artifacts/artifacts/"
                + root[len("mlflow-artifacts:/"):].lstrip("/") + "/" + name)


def _sweep(url, db, cwd: Path, launcher_args: list[str], env=None, label=""):
    """The module's sweep through one launcher, timed; checks that every run arrived."""
    experiment = f"launchers-{label}-{uuid.uuid4().hex[:6]}"
    args = ["-m", *launcher_args, "tracking=server", f"tracking.uri={url}",
            f"tracking.experiment={experiment}", "activation=" + ",".join(ACTIVATIONS),
            f"seed=1..{N_SEEDS}", "luck.plots=false"]
    with counting_connections(db) as connections:
        start = time.monotonic()
        out = run_cli(args, cwd, env=env, timeout=600)
        wall = time.monotonic() - start
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    print(f"\n{label}: {wall:.1f} s wall for {len(ACTIVATIONS)} jobs x {N_SEEDS} seeds, "
          f"at most {connections['peak']} connections to PostgreSQL")
    assert 0 < connections["peak"] <= MAX_CONNECTIONS - 4

    runs = _runs_of(url, experiment)
    parents = [r for r in runs if r["tags"].get("neuron_luck.kind") == "job"]
    reports = [r for r in runs if r["tags"].get("neuron_luck.kind") == "sweep_report"]
    # Every job's parent, finished, in one sweep.
    assert sorted(p["params"]["activation"] for p in parents) == sorted(ACTIVATIONS)
    assert {p["status"] for p in parents} == {"FINISHED"}
    sweep_ids = {p["tags"]["neuron_luck.sweep_id"] for p in parents}
    assert len(sweep_ids) == 1
    sweep_id = sweep_ids.pop()
    for p in parents:
        assert p["metrics"]["n_seeds"] == N_SEEDS
        assert f"sweep_id='{sweep_id}'" in p["tags"]["neuron_luck.overrides"]
        # The server's address reached the job as an override (Hydra escapes its colons).
        assert "tracking.uri=" in p["tags"]["neuron_luck.overrides"]
    # Every seed's child, finished, under its own parent.
    by_parent = {p["id"]: [] for p in parents}
    for r in runs:
        if "mlflow.parentRunId" in r["tags"]:
            by_parent[r["tags"]["mlflow.parentRunId"]].append(r)
    for p in parents:
        kids = by_parent[p["id"]]
        assert sorted(int(k["tags"]["neuron_luck.seed"]) for k in kids) == list(
            range(1, N_SEEDS + 1)), p["params"]["activation"]
        assert {k["status"] for k in kids} == {"FINISHED"}
        assert {k["params"]["activation"] for k in kids} == {p["params"]["activation"]}
    assert len(runs) == len(parents) * (N_SEEDS + 1) + len(reports)
    # The sweep-level report: one run covering every job, read back through the server.
    assert len(reports) == 1
    report_run = reports[0]
    assert report_run["status"] == "FINISHED"
    assert report_run["tags"]["neuron_luck.sweep_id"] == sweep_id
    assert report_run["params"]["n_jobs"] == str(len(ACTIVATIONS))
    report = json.loads(_artifact(url, report_run, "sweep_report.json"))
    assert report["sweep_id"] == sweep_id and report["n_jobs"] == len(ACTIVATIONS)
    assert sorted(c["config"] for c in report["configs"]) == sorted(
        f"activation={a}" for a in ACTIVATIONS)
    assert {c["n"] for c in report["configs"]} == {N_SEEDS}
    # Its jobs are the parents on the server, whichever process or node ran them.
    assert sorted(j for c in report["configs"] for j in c["jobs"]) == sorted(by_parent)
    assert f"Sweep report over {len(ACTIVATIONS)} jobs" in out.stdout
    # Every job's run folder went under the sweep folder of the working directory, whatever
    # the launcher's own working directory (a Ray worker's is where `ray start` ran).
    (sweep_dir,) = cwd.glob("outputs/multirun/*/*/sweep_report.json")
    assert sorted(p.parent.name for p in sweep_dir.parent.glob("*/seeds.parquet")) == [
        str(i) for i in range(len(ACTIVATIONS))]
    return out, runs


# --- the launchers --------------------------------------------------------------------------


@pytest.mark.slow
def test_joblib_two_at_a_time(postgres, mlflow_server, tmp_path):
    if find_spec("hydra_plugins.hydra_joblib_launcher") is None:
        _missing("hydra-joblib-launcher is not installed")
    _sweep(mlflow_server, postgres, tmp_path, ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
           label="joblib")


@pytest.mark.slow
def test_two_commands_at_once_on_a_new_postgresql_database_both_log(postgres, tmp_path):
    """MLflow creates a new database's tables without a lock: of two commands started at once
    on an empty database, one failed after evaluating (duplicate key in pg_type), 4 times
    in 4 before runner.tracking.setup took a PostgreSQL advisory lock around it (so one
    pair finds it; this ran 3 pairs until the slow set had to fit in 6 minutes)."""
    import psycopg
    from mlflow.tracking import MlflowClient

    server = postgres.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HYDRA_"))}
    env["PYTHONPATH"] = str(ROOT)
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    uri = postgres.rsplit("/", 1)[0] + f"/{name}"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "runner", "seed=1..5", f"activation={a}", f"tracking.uri={uri}",
         "luck.plots=false"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for a in ("relu", "tanh")]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    exp = MlflowClient(uri).get_experiment_by_name("neuron-luck")
    runs = MlflowClient(uri).search_runs([exp.experiment_id])
    assert len(runs) == 2 + 2 * 5  # two parents, five seeds each


@pytest.mark.slow
@pytest.mark.parametrize("where", ["postgres", "server"])
def test_a_deleted_experiment_is_refused_before_anything_is_evaluated(
        postgres, mlflow_server, tmp_path, where):
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    uri = postgres if where == "postgres" else mlflow_server
    name = f"deleted-on-{where}"  # not the experiment the other tests of this module use
    client = MlflowClient(uri)
    gone = client.create_experiment(name)
    client.delete_experiment(gone)
    password = postgres.split(":")[2].split("@")[0]
    for multirun in ([], ["-m"]):
        out = run_cli([*multirun, "seed=1..3", f"tracking.uri={uri}",
                       f"tracking.experiment={name}", "luck.plots=false"], tmp_path)
        assert out.returncode == 2, out.stderr
        errors = [line for line in out.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, out.stderr
        assert errors[0].startswith(f"Error: tracking.experiment={name}: that experiment was "
                                    "deleted"), errors[0]
        assert f"mlflow experiments restore --experiment-id {gone}" in errors[0]
        assert "Traceback" not in out.stderr and password not in out.stderr + out.stdout
        assert "seeds evaluated" not in out.stdout  # refused before the evaluation
    assert client.search_runs([gone], run_view_type=ViewType.ALL) == []


@pytest.mark.slow
def test_submitit_local(postgres, mlflow_server, tmp_path):
    if find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        _missing("hydra-submitit-launcher is not installed")
    _sweep(mlflow_server, postgres, tmp_path, ["hydra/launcher=submitit_local"],
           label="submitit_local")
    # submitit kept each job's own log beside the sweep.
    assert list(tmp_path.glob("outputs/multirun/*/*/.submitit/*/*_log.out"))


@pytest.fixture
def ray_cluster():
    if find_spec("ray") is None or find_spec("hydra_plugins.hydra_ray_launcher") is None:
        _missing("ray or hydra-ray-launcher is not installed")
    with running_ray_cluster() as env:
        yield env


@contextmanager
def running_ray_cluster():
    """A local Ray cluster, `ray start --head --block` in its own session; yields the env a
    driver needs to attach to it (RAY_ADDRESS and its auth token).

    Stopped by the pid of that `ray start` (SIGTERM makes it stop what it started), then its
    process group, then any process still naming its temporary folder.
    """
    ray_exe = Path(sys.executable).with_name("ray")
    if not ray_exe.exists():
        ray_exe = Path(shutil.which("ray") or "ray")
    temp = tempfile.mkdtemp(prefix="nlray-")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    log = Path(temp) / "start.log"
    # Ray serves on the machine's address, not 127.0.0.1 (it maps localhost to it), so the
    # cluster wants a token from whoever attaches.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex + uuid.uuid4().hex,
            "RAY_USAGE_STATS_ENABLED": "0"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_"))}
    env.update(auth)
    env["PYTHONPATH"] = str(ROOT)  # Ray's workers import the app
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"  # on SIGTERM stop now, not in 30 s
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(ray_exe), "start", "--head", "--block", "--port", str(port),
             "--num-cpus", "2", "--include-dashboard", "false",
             # Free ports for what otherwise binds a fixed one (8265, 10001, 52365): a second
             # cluster on this machine, another test run's, must not stop this one starting.
             "--ray-client-server-port", str(_free_port()),
             "--dashboard-port", str(_free_port()),
             "--dashboard-agent-listen-port", str(_free_port()),
             "--object-store-memory", str(200 * 1024**2), "--temp-dir", temp,
             "--disable-usage-stats"],
            env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_for(lambda: "Ray runtime started" in log.read_text(errors="replace"), 120,
                  "ray start --head", proc, log)
        yield {"RAY_ADDRESS": f"127.0.0.1:{port}", **auth}
    finally:
        _stop_group(proc)
        for pid in _pids_mentioning(temp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_ray_attached_with_address_auto(postgres, mlflow_server, ray_cluster, tmp_path):
    # address=auto resolves $RAY_ADDRESS first, so the test attaches to its own cluster
    # even if another one runs on this machine.
    _sweep(mlflow_server, postgres, tmp_path, ["hydra/launcher=ray_attach"], env=ray_cluster,
           label="ray")


@pytest.mark.slow
def test_a_multirun_on_an_unreachable_server_stops_before_any_job(tmp_path):
    port = _free_port()
    out = run_cli(["-m", "hydra/launcher=joblib_small", "tracking=server",
                   f"tracking.uri=http://alice:s3cret@127.0.0.1:{port}", "activation=sigmoid,tanh",
                   "seed=1..3"], tmp_path)
    assert out.returncode == 2
    # One line, before any job ran (so Hydra never printed the jobs' overrides either).
    assert out.stderr.startswith(
        f"Error: tracking.uri=http://alice:***@127.0.0.1:{port}: cannot reach the MLflow server")
    assert out.stderr.strip().count("\n") == 0
    assert "s3cret" not in out.stdout + out.stderr
    assert not list(tmp_path.glob("outputs/multirun/*/*/*/seeds.parquet"))


# --- one huge seed range across jobs ---------------------------------------------------------


def test_split_covers_the_range_once_in_near_equal_jobs():
    assert split("1..1000000", jobs=4) == [(1, 250000), (250001, 500000), (500001, 750000),
                                           (750001, 1000000)]
    assert split("0..9", jobs=3) == [(0, 3), (4, 6), (7, 9)]
    assert split("1..10", per_job=4) == [(1, 4), (5, 8), (9, 10)]
    assert split("5..5", jobs=1) == [(5, 5)]


@pytest.mark.parametrize("spec, kw, message", [
    ("10..1", {"jobs": 2}, "the range is reversed"),
    ("1..3", {"jobs": 5}, "give 1 to 3 jobs"),
    ("1..100000000", {"jobs": 4}, "give --jobs 10 or more"),
    ("1..100", {"per_job": 0}, "at least 1"),
    ("7", {"jobs": 1}, "give an inclusive range"),
    ("1..99999999999999999999", {"per_job": 10}, "is past the largest seed, 9223372036854775807"),
    ("1..10000000000", {"per_job": 10}, "more than 100,000; give more seeds per job"),
])
def test_split_refuses_what_it_cannot_do(spec, kw, message):
    with pytest.raises(UserError, match=message):
        split(spec, **kw)


def test_split_prints_the_override(capsys):
    assert split_main(["1..1000000", "--jobs", "4"]) == 0
    assert capsys.readouterr().out == (
        "seed=1..250000,250001..500000,500001..750000,750001..1000000\n")
    assert split_main(["1..3", "--jobs", "5"]) == 2
    assert "Error: --jobs 5" in capsys.readouterr().err


@pytest.mark.parametrize("argv, line", [
    # argparse printed a usage block and 'error: ...' for these (a tester's report)
    (["1..10"], "Error: --jobs or --per-job: missing; give one, --jobs 4 or --per-job 250000"),
    (["1..10", "--jobs", "abc"], "Error: --jobs abc: not a whole number; give one, e.g. --jobs 4"),
    (["1..10", "--jobs", "2", "--per-job", "3"],
     "Error: --per-job: not allowed with --jobs; give one of them, --jobs 4 or --per-job 250000"),
    (["1..10", "--jobs", "2", "extra"],
     "Error: extra: not an argument of python -m runner.split; leave it out"),
    (["--jobs", "2"], "Error: range: missing; give the whole range, e.g. 1..1000000"),
    (["1..10", "--jobs"], "Error: --jobs: no value; give one, e.g. --jobs 4"),
])
def test_split_misuse_is_one_line_with_its_fix(argv, line, capsys):
    assert split_main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == f"{line} (python -m runner.split --help)\n", out.err


@pytest.mark.parametrize("argv, line", [
    # argparse read -5..10 as an option and said 'the following arguments are required: range'
    (["-5..10", "--jobs", "2"], "Error: -5..10: seeds are non-negative, got -5; give an "
     "inclusive range of non-negative seeds, like 1..1000000"),
    (["--jobs", "2", "-5..10"], "Error: -5..10: seeds are non-negative, got -5; give an "
     "inclusive range of non-negative seeds, like 1..1000000"),
    # it offered the int and list forms of seed=, which split does not take
    (["1..10_000", "--jobs", "2"], "Error: 1..10_000: '10_000' is not a whole number; give an "
     "inclusive range of non-negative seeds, like 1..1000000"),
    # it named the limit, not what to give instead
    (["1..100000000", "--per-job", "20000000"], "Error: --per-job 20,000,000: a job holds at "
     "most 10,000,000 seeds; give --per-job 10000000 or fewer, or --jobs 10"),
])
def test_split_bad_range_or_size_is_worded_for_split(argv, line, capsys):
    assert split_main(argv) == 2
    assert capsys.readouterr().err == line + "\n"


def test_split_help_still_prints_its_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        split_main(["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(
        "usage: python -m runner.split RANGE (--jobs N | --per-job K)")


@pytest.mark.slow
def test_a_split_range_is_one_seed_population_in_the_sweep_report(tmp_path):
    if find_spec("hydra_plugins.hydra_joblib_launcher") is None:
        _missing("hydra-joblib-launcher is not installed")
    printed = subprocess.run(
        [sys.executable, "-m", "runner.split", "1..2000", "--jobs", "4"], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True)
    override = printed.stdout.strip()
    assert override == "seed=1..500,501..1000,1001..1500,1501..2000"
    out = run_cli(["-m", "hydra/launcher=joblib_small", "tracking=off", "activation=tanh",
                   override, "luck.plots=false"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = tmp_path.glob("outputs/multirun/*/*/sweep_report.json")
    report = json.loads(path.read_text())
    assert report["n_jobs"] == 4
    # One configuration: the four jobs' seeds pooled, all of the seed's variance.
    (config,) = report["configs"]
    assert config["n"] == 2000 and sorted(config["jobs"]) == ["0", "1", "2", "3"]
    assert "Sweep report over 4 jobs" in out.stdout
