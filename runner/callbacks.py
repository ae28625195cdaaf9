"""Hydra callbacks for multiruns: set the sweep up before any job starts, report after."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from runner.errors import UserError

log = logging.getLogger(__name__)


class SweepCallback(Callback):
    """Before the jobs: one sweep id, an absolute tracking URI and a created store, handed
    to every job as overrides (so launchers in other processes or nodes get them too).
    After the jobs: the sweep-level report."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        task = config.hydra.overrides.task
        given = {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1] for o in task if "=" in o}
        sweep_id = given.get("sweep_id") or uuid.uuid4().hex[:12]
        extra = [] if "sweep_id" in given else [f"sweep_id={sweep_id}"]
        if config.tracking.enabled:
            from runner import tracking

            try:
                uri = tracking.resolve_uri(config.tracking.uri)
                tracking.prepare_store(uri)
            except UserError as e:
                raise SystemExit(f"Error: {e}") from None
            if uri != config.tracking.uri:
                extra.append(f"tracking.uri='{uri}'")
        with open_dict(config):
            config.hydra.overrides.task.extend(extra)
            config.sweep_id = sweep_id
        log.info("sweep %s: %s", sweep_id, Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from runner import compare

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            text = compare.report_sweep(config, sweep_dir)
        except Exception as e:  # the jobs' own results stand; say why the report is missing
            log.error("no sweep report: %s", e)
            return
        if text:
            print("\n" + text)
