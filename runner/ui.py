"""`python -m runner.ui [--port 5000]`: the MLflow UI on this project's store, on 127.0.0.1 only,
opening on the experiment's jobs in MLflow's model-training workspace (runner/ui_app.py).

The store is the one `python -m runner` logs to: --uri, else $MLFLOW_TRACKING_URI, else
mlflow.db here.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
from importlib.metadata import entry_points

from runner.args import Parser
from runner.errors import UserError, error_line
from runner.progress import say
from runner.tracking import views
from runner.tracking.checks import check
from runner.tracking.setup import without_password
from runner.ui_app import EXPERIMENT
from runner.uri import error_text, is_http, redact, resolve_uri, sqlite_path

APP = "neuron-luck"  # MLflow app plugin (pyproject.toml: entry point mlflow.app)
HOST = "127.0.0.1"


def has_app() -> bool:
    """Whether MLflow finds this project's app plugin (the package is installed)."""
    return any(e.name == APP for e in entry_points(group="mlflow.app"))


def for_ui(message: str) -> str:
    """A store's message, which speaks of the runner's tracking.uri and tracking=off, in the
    words of this command: its flag is --uri, and without a store there is nothing to show."""
    message = re.sub(r"(^|: )tracking\.uri=", r"\1--uri ", message)
    message = message.replace("point tracking.uri at", "point --uri at")
    return re.sub(r",? or (run with|use) tracking=off(?=$|;)", "", message)


def command(port: int, uri: str | None = None) -> list[str]:
    """The `mlflow ui` command on the store `uri` (not a tracking server: it has its own UI),
    the URI put in it as given."""
    uri = resolve_uri(uri)
    if is_http(uri):
        raise UserError(f"--uri {redact(uri)}: a tracking server serves its own UI; "
                        f"open {redact(uri)} in a browser")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", HOST, "--port", str(port)]
    if has_app():
        cmd += ["--app-name", APP, "--workers", "1"]
    return cmd


def serve_command(port: int, uri: str) -> list[str]:
    """The command main() execs: its password, if any, moved from the URI (whose command line
    `ps` shows anyone) to the environment the server inherits, where its client reads it."""
    served = without_password(uri)
    return command(port, served if served is not None else uri)


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
    from runner.tracking.checks import check_reachable
    from runner.uri import browser_address, error_text

    base = browser_address(uri)
    try:
        check_reachable(uri)
        from mlflow.tracking import MlflowClient

        exp = MlflowClient(uri).get_experiment_by_name(name)
    except UserError as e:
        print(error_line(for_ui(str(e))), file=sys.stderr)
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
        print(f"  your jobs, one row each: {base}/"
              f"{views.jobs_fragment(exp.experiment_id, served_by_runner_ui=False)}")
    return 0


def main(argv=None) -> int:
    parser = Parser(prog="python -m runner.ui", description=__doc__,
                    examples={"--port": "--port 5000", "--uri": "--uri sqlite:///mlflow.db",
                              "--experiment": "--experiment neuron-luck"})
    parser.add_argument("--port", type=int, default=views.UI_PORT)
    parser.add_argument("--uri", help="the tracking store (default: $MLFLOW_TRACKING_URI, "
                        "else sqlite:///mlflow.db in this folder)")
    parser.add_argument("--experiment", default="neuron-luck",
                        help="the experiment to open on (default: neuron-luck)")
    parser.add_argument("--print-command", action="store_true", help="print it, do not run it")
    try:
        args = parser.parse_args(argv)
        uri = resolve_uri(args.uri)
        if is_http(uri):  # with --print-command too: there is no command, only its address
            return point_to_server(uri, args.experiment)
        if not args.print_command:
            check_port(args.port)
        # The runner's own check: a store MLflow cannot use is refused in one line, and a
        # store that is not there yet is not created (MLflow would, folders and all).
        check(uri, writes=False)
        if args.print_command:
            print(shlex.join(command(args.port, redact(uri))))
            return 0
    except UserError as e:
        print(error_line(for_ui(str(e))), file=sys.stderr)
        return 2
    base = f"http://{HOST}:{args.port}"
    try:
        eid = experiment_id(uri, args.experiment)
    except Exception as e:  # a store the check let through that MLflow refuses: its words
        print(f"Error: --uri {redact(uri)}: MLflow cannot open this store "
              f"({error_text(e, uri)}); point --uri at an MLflow store", file=sys.stderr)
        return 2
    if eid is None:
        home = None
        print(f"No experiment {args.experiment!r} in {redact(uri)} yet: run python -m runner "
              "first (this folder's runs go to its mlflow.db).", flush=True)
    else:
        home = views.jobs_fragment(eid, served_by_runner_ui=True)
    print(f"Starting the MLflow UI on {redact(uri)} at {base}: its address follows once it "
          "answers", flush=True)
    lines = [f"MLflow UI ready on {base}; Ctrl-C stops it"]
    if home:
        lines.append(f"  your jobs, one row each: {base}/{home}")
    cmd = serve_command(args.port, uri)
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # no GenAI job workers
    if eid is not None:
        os.environ[EXPERIMENT] = eid
    announce_when_ready(base, lines)
    os.execvp(cmd[0], cmd)


def announce_when_ready(base: str, lines: list[str], timeout: float = 600) -> None:
    """Print `lines` once the server at `base` answers, from a forked watcher: this process
    becomes the server (exec, so its pid is the server's), and the address printed before it
    answered (15-50 s of MLflow's imports on a busy laptop) led users to a refused page."""
    if os.fork():
        return
    code = 0
    try:
        import signal
        import time
        import urllib.request

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
        server = os.getppid()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and os.getppid() == server:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                    if answer.status == 200:
                        say("\n".join(lines))
                        break
            except OSError:
                pass
            time.sleep(0.25)
    except BaseException:
        code = 1
    finally:
        os._exit(code)  # never back into the caller: the server is the other process


if __name__ == "__main__":
    sys.exit(main())
