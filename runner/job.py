"""One job: plan → evaluate → write → report → publish."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from runner import evaluate, speedups
from runner.config import Config
from runner.plan import Plan, make_plan
from runner.report import luck, plots, tables, text
from runner.report.luck import LuckReport
from runner.results import JobResult, LessonSkipped, LessonTraining
from runner.tracking.publish import Outcome, Published, where


@dataclass(frozen=True)
class JobOutcome:
    """What a job did: its results, report, files, plots, MLflow runs, and the closing text."""

    result: JobResult
    report: LuckReport | None
    files: tuple[Path, ...]
    plots: tuple[Path, ...]
    published: Published | None
    text: str

    @property
    def parent_run_id(self) -> str | None:
        return self.published.parent_run_id if self.published else None


def run_job(config: Config, run_dir: Path, overrides=(), seed_given: bool = False,
            started: float | None = None) -> JobOutcome:
    """Evaluate the job `config` describes, write it under `run_dir`, report and publish it.

    `started`: time.time() when the command started (default: now).
    """
    run_dir = Path(run_dir)
    plan = make_plan(config, seed_given, started)
    published = None
    with speedups.publisher(plan) as publisher:  # opens the store while the seeds evaluate
        result = evaluate.run(plan)
        report = luck.build(result, speedups.map_chunks) if result.n_seeds >= 2 else None
        figures = plots.spec(result, report) if report and plan.luck.plots else ()
        draw = functools.partial(plots.draw, figures, run_dir / "plots") if figures else None
        # Without a publisher the plots are drawn aside while the run folder is written.
        drawing = speedups.draw_aside(draw) if draw and publisher is None else None
        files = tables.write(result, run_dir)
        # Whole or not at all (a full disk): as the tables are written.
        if report is not None:
            files.append(run_dir / "luck.json")
            text = json.dumps(report.to_json(), indent=1).encode()
            tables.write_whole(files[-1], lambda fh, text=text: fh.write(text))
        if result.lesson is not None:
            files.append(run_dir / "lesson_training.json")
            text = json.dumps(lesson_json(result.lesson), indent=1).encode()
            tables.write_whole(files[-1], lambda fh, text=text: fh.write(text))
        if publisher is None:
            drawn = drawing() if drawing else ()
        else:
            outcome = Outcome(result, report, tuple(files), run_dir, tuple(overrides),
                              tuple(p.file for p in figures))
            published = publisher.publish(outcome, draw)
            drawn = published.plots
    return JobOutcome(result, report, tuple(files), drawn, published,
                      closing_text(plan, result, report, published, run_dir))


def lesson_json(lesson: LessonTraining | LessonSkipped) -> dict:
    """The lesson's training as the run folder's lesson_training.json holds it."""
    return {"trained": isinstance(lesson, LessonTraining), **dataclasses.asdict(lesson)}


def closing_text(plan: Plan, result: JobResult, report: LuckReport | None,
                 published: Published | None, run_dir: Path) -> str:
    """What the terminal shows at the end: the lesson's table, the luck report, the summary."""
    mlflow_line = ui = None
    if published is not None:
        mlflow_line, ui = where(plan.tracking, published)
    out = text.job_summary(result, mlflow_line, run_dir, ui)
    if report is not None:
        out = text.luck_table(report) + "\n\n" + out
    if plan.printed:
        lesson = text.lesson_table(result)
        if result.lesson is not None:
            lesson += "\n" + text.lesson_training(result.lesson, result)
        out = lesson + "\n\n" + out
    return out

