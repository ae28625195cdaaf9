"""Hydra callbacks for multiruns: set the sweep up before any job starts, report after."""

from __future__ import annotations

import itertools
import logging
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.config import LuckConfig, override_key
from runner.errors import UserError, error_line, raise_if_stopped
from runner.sweep import report as sweep_report

log = logging.getLogger(__name__)


def _quoted(value: str) -> str:
    """`value` as a quoted Hydra override value, whatever characters it holds.

    In a quoted value Hydra reads backslashes literally, except before a quote or the
    closing quote: those are doubled, and quotes escaped.
    """
    value = re.sub(r"(\\+)('|$)", lambda m: m.group(1) * 2 + m.group(2), value)
    return "'" + value.replace("'", "\\'") + "'"


def sweep_id_override(sweep_id: str) -> str:
    """The override that hands `sweep_id` to every job as the same string.

    Quoted because Hydra types a bare value: a hex id such as 554578374e83 would reach
    the jobs as the float 5.54578374e+91.
    """
    return f"sweep_id={_quoted(sweep_id)}"


@dataclass(frozen=True)
class SweepSettings:
    """What the callbacks read of a multirun's config, typed once."""

    sweep_dir: Path
    sweep_id: str | None
    tracking: bool
    uri: str | None
    experiment: str
    luck: LuckConfig  # the same typed settings a job's plan holds

    @classmethod
    def of(cls, config: DictConfig) -> SweepSettings:
        t = config.tracking
        return cls(
            sweep_dir=Path(str(config.hydra.sweep.dir)), sweep_id=config.get("sweep_id"),
            tracking=bool(t.enabled), uri=t.get("uri"), experiment=str(t.experiment),
            luck=OmegaConf.to_object(config.luck),
        )


class SweepCallback(Callback):
    """Before the jobs: one sweep id, an absolute tracking URI, a reachable server or a
    created store and experiment, and an absolute sweep folder, handed to every job as
    overrides (so launchers in other processes or on other nodes get them too).
    After the jobs: the sweep report."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            self._start(config)
        except Exception:
            # Hydra turns a callback's exception into a warning and runs the jobs: a stop
            # asked meanwhile (which a library may have turned into this) must still stop.
            raise_if_stopped()
            raise

    def _start(self, config: DictConfig) -> None:
        try:
            check_jobs(config)
        except UserError as e:  # before any job starts: one line, and no run anywhere
            print(error_line(e), file=sys.stderr)
            raise SystemExit(2) from None
        settings = SweepSettings.of(config)
        task = config.hydra.overrides.task
        given = {override_key(o): o.split("=", 1)[1] for o in task if "=" in o}
        if "sweep_id" in given:  # the user's own, as their override made it for the jobs
            sweep_id, extra = str(settings.sweep_id or given["sweep_id"]), []
        else:
            sweep_id = uuid.uuid4().hex[:12]
            extra = [sweep_id_override(sweep_id)]
        if settings.tracking:
            from runner.tracking import checks, setup
            from runner.tracking.tracker import Tracker
            from runner.uri import resolve_uri, scrub

            try:
                uri = resolve_uri(settings.uri)
                checks.check(uri, settings.experiment)
                setup.prepare(uri)
            except UserError as e:  # before any job starts: one line, as a job would say it
                print(error_line(e), file=sys.stderr)
                raise SystemExit(2) from None
            try:
                # The experiment too, once, here: parallel jobs that each find it missing
                # would each create it, and all but one fail with RESOURCE_ALREADY_EXISTS.
                Tracker(uri, settings.experiment)
            except Exception as e:  # each job meets the same problem and reports it
                log.warning("could not create MLflow experiment %r: %s",
                            settings.experiment, scrub(str(e), uri))
            if uri != settings.uri:
                # From $MLFLOW_TRACKING_URI, or made absolute: the jobs get it as an override,
                # which Hydra prints and keeps in multirun.yaml and .hydra/: no password.
                handed = setup.without_password(uri)
                if handed is not None:
                    extra.append(f"tracking.uri={_quoted(handed)}")
        # The sweep folder, absolute: a job runs in its launcher's working directory (a Ray
        # worker's is where `ray start` ran), where a relative one would land elsewhere.
        sweep_dir = settings.sweep_dir.absolute()
        with open_dict(config):
            config.hydra.overrides.task.extend(extra)
            config.hydra.sweep.dir = str(sweep_dir)
            config.hydra.overrides.hydra.append(f"hydra.sweep.dir={_quoted(str(sweep_dir))}")
            config.sweep_id = sweep_id
        log.info("sweep %s: %s", sweep_id, sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        settings = SweepSettings.of(config)
        try:
            text = report_sweep(settings)
        except Exception as e:  # the jobs' own results stand; say why the report is missing
            log.error("no sweep report: %s", e)
            return
        if text:
            print("\n" + text)


BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def job_overrides(task: list[str]) -> list[list[str]]:
    """The overrides of each job Hydra's basic sweeper makes of `task`: every combination of
    the swept values (a,b,c; range(); choice()), in its order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lists = []
    for o in OverridesParser.create().parse_overrides(task):
        key = o.get_key_element()
        values = o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_string()]
        lists.append([f"{key}={v}" for v in values])
    return [list(combo) for combo in itertools.product(*lists)]


def check_jobs(config: DictConfig) -> None:
    """Compose and plan every job of the sweep as the job itself will (runner.plan), so that
    a value one job would refuse stops the sweep before any job has run or logged.

    Only with Hydra's basic sweeper, whose jobs are known in advance; a bad value is then
    named with the job that has it.
    """
    from hydra.core.global_hydra import GlobalHydra

    from runner.config import check_overrides, seed_given, to_config
    from runner.plan import make_plan

    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return
    loader = GlobalHydra.instance().config_loader()
    jobs = job_overrides(list(config.hydra.overrides.task))
    for i, overrides in enumerate(jobs):
        try:
            check_overrides(overrides)
            cfg = loader.load_sweep_config(config, overrides)
            with open_dict(cfg):
                del cfg["hydra"]
            make_plan(to_config(cfg), seed_given(overrides))
        except UserError as e:
            job = f"job #{i} of {len(jobs)} ({' '.join(overrides)})" if len(jobs) > 1 else "job"
            raise UserError(f"{e} [{job}; no job was run]") from None


def report_sweep(settings: SweepSettings) -> str | None:
    """Build, write and log the report of the sweep; its terminal text."""
    jobs = sweep_report.jobs_from_folder(settings.sweep_dir)
    client = exp_id = None
    if settings.tracking:
        from runner.tracking.tracker import Tracker
        from runner.uri import resolve_uri

        tracker = Tracker(resolve_uri(settings.uri), settings.experiment)
        client, exp_id = tracker.client, tracker.experiment_id
        # Jobs on other nodes may have left no folder here; the store has them all.
        from_store = sweep_report.jobs_from_mlflow(client, exp_id, settings.sweep_id)
        if len(from_store) >= len(jobs):
            jobs = from_store
    if len(jobs) < 2:
        return None
    report = sweep_report.build(jobs, settings.luck, sweep_id=settings.sweep_id)
    files = sweep_report.write(report, settings.sweep_dir)
    if settings.luck.plots:
        files.append(sweep_report.plot(report, jobs, settings.sweep_dir))
    text = sweep_report.table(report)
    if client is not None:
        from runner.tracking import views
        from runner.tracking.publish import ui_hint

        rid = sweep_report.log_to_mlflow(client, exp_id, report, files)
        text += f"\n  MLflow: sweep report run {rid} (tag neuron_luck.sweep_id={settings.sweep_id})"
        from runner.uri import is_http

        page = views.jobs_fragment(exp_id, served_by_runner_ui=not is_http(tracker.uri))
        text += "\n  open the UI: " + ui_hint(tracker.uri, page, "every job, one row each")
    return text
