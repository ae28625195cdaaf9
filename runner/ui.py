"""`python -m runner.ui [--port 5000]`: the MLflow UI on this project's store, on 127.0.0.1 only.

The store is the one `python -m runner` logs to: $MLFLOW_TRACKING_URI, else mlflow.db here.
"""

import argparse
import os
import shlex
import sys

from runner.tracking.store import redact, resolve_uri


def command(port: int) -> list[str]:
    uri = resolve_uri(None)
    if uri.startswith(("http://", "https://")):
        sys.exit(f"MLFLOW_TRACKING_URI={redact(uri)} is a tracking server: open that in a browser")
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
            "--host", "127.0.0.1", "--port", str(port)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runner.ui", description=__doc__)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--print-command", action="store_true", help="print it, do not run it")
    args = parser.parse_args(argv)
    cmd = command(args.port)
    if args.print_command:
        print(shlex.join(cmd))
        return
    print(f"MLflow UI on http://127.0.0.1:{args.port} ({cmd[5]}); Ctrl-C stops it", flush=True)
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # no GenAI job workers
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
