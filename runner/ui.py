"""`python -m runner.ui [--port 5000]`: the MLflow UI on this project's store, on 127.0.0.1 only,
opening on the experiment's jobs in MLflow's model-training workspace (runner/ui_app.py).

The store is the one `python -m runner` logs to: --uri, else $MLFLOW_TRACKING_URI, else
mlflow.db here.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
from importlib.metadata import entry_points

from runner.errors import UserError
from runner.tracking import views
from runner.tracking.store import is_http, redact, resolve_uri, sqlite_path
from runner.ui_app import EXPERIMENT

APP = "neuron-luck"  # MLflow app plugin (pyproject.toml: entry point mlflow.app)
HOST = "127.0.0.1"


def has_app() -> bool:
    """Whether MLflow finds this project's app plugin (the package is installed)."""
    return any(e.name == APP for e in entry_points(group="mlflow.app"))


def command(port: int, uri: str | None = None) -> list[str]:
    uri = resolve_uri(uri)
    if is_http(uri):
        raise UserError(f"{redact(uri)} is a tracking server: open that address in a browser")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", HOST, "--port", str(port)]
    if has_app():
        cmd += ["--app-name", APP, "--workers", "1"]
    return cmd


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_near(port: int) -> int:
    for candidate in range(port + 1, min(port + 50, 65535)):
        if port_free(candidate):
            return candidate
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: not a port; give 1 to 65535, e.g. --port 5000")
    if not port_free(port):
        other = free_port_near(port)
        raise UserError(
            f"--port {port}: {HOST}:{port} is in use (an MLflow UI already running? then open "
            f"http://{HOST}:{port}); port {other} is free: python -m runner.ui --port {other}"
        )


def experiment_id(uri: str, name: str) -> str | None:
    """The id of experiment `name` in the store, or None (no store or no such experiment yet)."""
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        return None  # do not create the store just to look
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("alembic").setLevel(logging.WARNING)
    exp = MlflowClient(uri).get_experiment_by_name(name)
    return exp.experiment_id if exp is not None and exp.lifecycle_stage == "active" else None


def point_to_server(uri: str, name: str) -> int:
    """A tracking server serves its own UI: print the address of its jobs view, start nothing."""
    from runner.tracking.store import browser_address, check_reachable, error_text

    base = browser_address(uri)
    try:
        check_reachable(uri)
        from mlflow.tracking import MlflowClient

        exp = MlflowClient(uri).get_experiment_by_name(name)
    except UserError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the server answered, then failed: its words, without a password
        print(f"Error: --uri {base}: the MLflow server failed ({error_text(e, uri)})",
              file=sys.stderr)
        return 2
    print(f"{base} is an MLflow tracking server: it serves its own UI, nothing to start here.")
    if exp is None or exp.lifecycle_stage != "active":
        print(f"No experiment {name!r} on it yet: run python -m runner tracking=server "
              f"tracking.uri={base} first; then open {base}")
    else:
        print(f"  your jobs, one row each: {base}/{views.runs_fragment(exp.experiment_id)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.ui", description=__doc__)
    parser.add_argument("--port", type=int, default=views.UI_PORT)
    parser.add_argument("--uri", help="the tracking store (default: $MLFLOW_TRACKING_URI, "
                        "else sqlite:///mlflow.db in this folder)")
    parser.add_argument("--experiment", default="neuron-luck",
                        help="the experiment to open on (default: neuron-luck)")
    parser.add_argument("--print-command", action="store_true", help="print it, do not run it")
    args = parser.parse_args(argv)
    if not args.print_command and is_http(resolve_uri(args.uri)):
        return point_to_server(resolve_uri(args.uri), args.experiment)
    try:
        cmd = command(args.port, args.uri)
        if args.print_command:
            print(shlex.join(cmd))
            return 0
        check_port(args.port)
    except UserError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    uri = cmd[cmd.index("--backend-store-uri") + 1]
    base = f"http://{HOST}:{args.port}"
    eid = experiment_id(uri, args.experiment)
    if eid is None:
        home = None
        print(f"No experiment {args.experiment!r} in {redact(uri)} yet: run python -m runner "
              "first (this folder's runs go to its mlflow.db).", flush=True)
    else:
        home = views.runs_fragment(eid)
    print(f"MLflow UI on {base} ({redact(uri)}); Ctrl-C stops it", flush=True)
    if home:
        print(f"  your jobs, one row each: {base}/{home}", flush=True)
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # no GenAI job workers
    if eid is not None:
        os.environ[EXPERIMENT] = eid
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
