"""`python -m runner`: the Hydra entry point; the work is in runner.job."""

import atexit
import logging
import os
import sys
from pathlib import Path

from runner.gc_tuning import fast_exit, heavy_imports

if __name__ == "__main__":
    from runner import mlflow_worker

    mlflow_worker.start(sys.argv[1:])  # first: it imports MLflow while Hydra starts here

with heavy_imports("hydra"):
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from runner.config import register_configs
    from runner.errors import UserError

log = logging.getLogger("runner")
register_configs()
atexit.register(fast_exit)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg) -> None:
    from runner.errors import LoggingFailed
    from runner.job import run_job

    hc = HydraConfig.get()
    overrides = list(hc.overrides.task)
    seed_given = any(o.split("=", 1)[0].lstrip("+~") == "seed" for o in overrides)
    try:
        outcome = run_job(cfg, Path(hc.runtime.output_dir), overrides, seed_given)
    except (UserError, LoggingFailed) as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(2 if isinstance(e, UserError) else 3)
    except KeyboardInterrupt:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print("Interrupted: the parent run, if any, is marked FAILED; run the same command "
              "again to log the rest.", file=sys.stderr)
        sys.exit(130)
    print(outcome.text)


if __name__ == "__main__":
    main()
