"""What a person reads in the terminal: the luck table, the job's summary, the lesson's table."""

from __future__ import annotations

import math

import numpy as np

from runner.config import Mode
from runner.plan import Plan
from runner.report.luck import (
    CONTESTED,
    LuckReport,
    NetworkSummary,
    Sources,
    TrainingSummary,
)
from runner.report.stats import percent
from runner.results import JobResult, LessonSkipped, LessonTraining


def luck_table(s: LuckReport) -> str:
    """The compact table of a job's luck report."""
    conf = f"{percent(s.confidence)} CI"
    head = (f"  {'metric':<12}{'mean':>8}{'std':>8}{'min':>8}{'q1':>8}{'median':>8}{'q3':>8}"
            f"{'max':>8}{'IQM':>8}   {conf} of the mean")
    after = ", after training (before and after: the table below)" if s.training else ""
    runs = "seeds" if s.sources is None else "runs"
    on = f", measured on {s.measured_on}" if s.measured_on else ""
    lines = [f"Luck across {s.n_seeds:,} {runs} ({s.seeds}){on}{after}", head]
    for m in s.metrics:
        t = m.stats
        lines.append(
            f"  {m.name:<12}{t.mean:>8.4f}{t.std:>8.4f}{t.min:>8.4f}{t.q1:>8.4f}"
            f"{t.median:>8.4f}{t.q3:>8.4f}{t.max:>8.4f}{t.iqm:>8.4f}"
            f"   [{t.ci_low:.4f}, {t.ci_high:.4f}]"
        )
    best = s.expected_best
    picks = best.picks()
    if best.k[-1] not in picks:
        picks.append(best.k[-1])
    lines.append("  expected best accuracy of k seeds: " + " · ".join(
        f"k={k} {best.at(k):.4f}" for k in picks))
    lines.append(
        f"  rows decided by luck ({CONTESTED[0]:.0%}–{CONTESTED[1]:.0%} of "
        f"{'seeds' if s.sources is None else 'the runs that measured them'} call them "
        f"positive): {s.rows.contested} of {len(s.rows.share_positive)}; "
        f"unanimous: {s.rows.unanimous}"
    )
    if s.highlight is not None:
        lines.append("  " + s.highlight.sentence)
    lines.append("  " + s.verdict)
    if s.sources is not None:
        lines += ["", sources_table(s.sources, s.confidence)]
    if s.network is not None:
        lines.append("  " + network_sentence(s.network, s.n_seeds))
    if s.training is not None:
        lines += ["", training_table(s.training, s.n_seeds)]
    return "\n".join(lines)


def sources_table(src: Sources, confidence: float) -> str:
    """Where the luck comes from: each source's share of the variance, with its interval."""
    lines = [f"Where the luck comes from ({src.grid})"]
    if src.accuracy:
        conf = f"{percent(confidence)} CI"
        lines.append(f"  {'source':<22}{'accuracy':>10}  {conf:<18}"
                     + (f"{'log-loss':>10}" if src.log_loss else ""))
        loss = {s.term: s for s in src.log_loss}
        for s in src.accuracy:
            row = (f"  {s.term.replace('_x_', ' × '):<22}{s.share:>10.1%}  "
                   f"[{s.low:.1%}, {s.high:.1%}]".ljust(52))
            if s.term in loss:
                row += f"{loss[s.term].share:>8.1%}"
            lines.append(row.rstrip())
    lines.append("  " + src.sentence)
    return "\n".join(lines)


def network_sentence(net: NetworkSummary, n_seeds: int) -> str:
    """The network's shape, and its dead hidden units (zero output on every row)."""
    def dead(d):
        return (f"{d.seeds_with_dead:,} of {n_seeds:,} seeds have a dead hidden unit "
                f"({d.seeds_all_dead:,} all dead; {d.mean_dead:.2f} dead units per seed)")

    text = (f"Network: hidden layers {list(net.hidden)} and a sigmoid output, {net.n_params:,} "
            "weights and biases per seed. ")
    if net.dead_before is not None:
        return text + f"Dead units: at the start {dead(net.dead_before)}; after training " + (
            dead(net.dead) + ".")
    return text + f"Dead units: {dead(net.dead)}."


def training_table(t: TrainingSummary, n_seeds: int) -> str:
    rows = [f"Training ({t.how + ', ' if t.how else ''}{t.epochs} epochs, lr {t.lr:g}, "
            f"l2 {t.l2:g}{', standardized' if t.standardize else ''})",
            f"  {'accuracy':<10}{'mean':>8}{'std':>8}{'min':>8}{'max':>8}{'best of 5':>11}"]
    # Diverged seeds are left out of the figures: when all diverged, none is after training.
    every = [("before", t.before)] + ([] if t.diverged == n_seeds else [("after", t.after)])
    for name, m in every:
        b5 = f"{m.best_of_5:>11.4f}" if m.best_of_5 is not None else f"{'–':>11}"
        rows.append(f"  {name:<10}{m.mean:>8.4f}{m.std:>8.4f}{m.min:>8.4f}{m.max:>8.4f}{b5}")
    fl = t.final_loss
    if t.diverged < n_seeds:
        rows.append(f"  final training loss: min {fl.min:.6f} · median {fl.median:.6f} · "
                    f"max {fl.max:.6f}")
    rows.append("  " + t.sentence)
    return "\n".join(rows)


def job_summary(result: JobResult, where: str | None, run_dir, ui_command: str | None) -> str:
    """The closing lines of a job: what was evaluated, how fast, and where it went."""
    plan = result.plan
    acc = result.evaluation.metrics.accuracy
    ds = plan.dataset
    lines = [
        f"neuron-luck · {plan.activation.name}"
        + plan.model_summary
        + f" · {ds.name} ({len(ds.y)} row"
        f"{'' if len(ds.y) == 1 else 's'}, "
        + (", ".join(ds.features) if len(ds.features) <= 8 else
           f"{len(ds.features)} features: {', '.join(ds.features[:3])}, …") + ")",
    ]
    if plan.explicit is not None and result.training is not None:
        before = result.training.before.metrics.accuracy[0]
        lines.append("  trained          the explicit weights (no seed involved): accuracy "
                     f"{before:.4f} → {acc[0]:.4f}")
    elif plan.explicit is not None:
        lines.append("  evaluated        the explicit weights (no seed involved)")
    else:
        # A speed only for many seeds: for one it measures nothing but overhead.
        what = "seeds" if plan.runs.plain else "runs"
        done = f"{what} {'trained' if result.training is not None else 'evaluated'}"
        lines.append(f"  {done:<15}  {result.n_seeds:,} ({plan.runs_spec})" + (
            f" in {result.seconds:.2f} s, {result.n_seeds / result.seconds:,.0f} {what}/s"
            if result.seconds and result.n_seeds > 1 else ""))
        if plan.runs.measured_on() is not None:
            lines.append(f"  measured on      {plan.runs.measured_on()}")
    if result.n_seeds == 1:
        lines.append(f"  accuracy         {acc[0]:.4f}")
    else:
        lines.append(
            f"  accuracy         mean {acc.mean():.4f}  min {acc.min():.4f}  max {acc.max():.4f}"
        )
    for note in plan.notes:
        lines.append(f"  note             {note}")
    lines.append(f"  run folder       {run_dir}")
    if where:
        lines.append(f"  MLflow           {where}")
    if ui_command:
        lines.append(f"  open the UI      {ui_command}")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _decimals(printed) -> int:
    text = repr(float(printed))
    if "e" in text:
        return 12
    return len(text.split(".")[1]) if "." in text else 0


def _agrees(computed, printed) -> bool:
    """Whether `printed` is `computed` rounded to the digits the printed value shows."""
    if isinstance(printed, (list, tuple)):
        return len(printed) == len(computed) and all(
            _agrees(c, p) for c, p in zip(computed, printed, strict=True)
        )
    if isinstance(printed, str):
        return str(computed) == printed
    d = _decimals(printed)
    return math.isclose(round(float(computed), d), float(printed), abs_tol=10 ** -(d + 3))


def _same(computed, printed) -> bool:
    """Whether an input the job used is exactly the one the source printed."""
    a, b = np.asarray(computed, float).ravel(), np.asarray(printed, float).ravel()
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-12, atol=0))


def lesson_differences(plan: Plan) -> list[str]:
    """The settings in which the job differs from the setup the source printed its values
    for (its row, raw units, mode=evaluate, its weights, bias and activation): where any
    does, a computed value differs from the printed one because of the change, not a
    misprint."""
    printed, ds = plan.printed, plan.dataset
    out = []
    x = ds.frame[ds.features].to_numpy(float)[0]
    if printed.x is not None and not _same(x, printed.x):
        out.append(f"row 0 of {ds.name} is x = {_fmt(tuple(x))}, "
                   f"not the lesson's {_fmt(printed.x)}")
    if ds.mean is not None:
        out.append("dataset.standardize=true: the neuron sees z-scored features")
    if plan.mode == Mode.train:
        out.append("mode=train: w and b are the trained ones")
    if plan.explicit is None:
        out.append(f"the weights are drawn by seed {plan.seed_spec}, not given")
    else:
        W, b = plan.explicit
        if printed.w is not None and not _same(W[0], printed.w):
            out.append(f"weights={_fmt(tuple(W[0].tolist()))}, not the lesson's "
                       f"{_fmt(printed.w)}")
        if printed.b is not None and not _same(b[0], printed.b):
            out.append(f"bias={_fmt(float(b[0]))}, not the lesson's {_fmt(printed.b)}")
    # The lesson's values are a sigmoid neuron's (printed.activation may name another).
    lesson_act = printed.activation
    if plan.activation.name != lesson_act:
        out.append(f"activation={plan.activation.name}, not the lesson's {lesson_act}")
    return out


def lesson_table(result: JobResult) -> str:
    """The worked example: each quantity computed, beside what the source printed where the
    job reproduces the source's setup; with the computed values alone where it does not."""
    plan, ev = result.plan, result.evaluation
    printed = plan.printed
    ds, act = plan.dataset, plan.activation
    differs = lesson_differences(plan)
    x = ds.X[0]  # what the neuron sees (z-scored with dataset.standardize)
    w, b = ev.W[0], float(ev.b[0])
    wx = float(w @ x)
    z = float(ev.z[0, 0])
    y_hat = float(ev.y_hat[0, 0])
    cls = ds.positive if bool(result.pred[0, 0]) else ds.negative
    rule = f"ŷ {'≥' if cls == ds.positive else '<'} {act.threshold:g}"
    rows = [
        ("x (z-scored)" if ds.mean is not None else "x", list(x), "x"),
        ("w", list(w), "w"),
        ("b", b, "b"),
        ("wᵀx", wx, "wx"),
        ("z = wᵀx + b", z, "z"),
        (f"ŷ = {act.name}(z)", y_hat, "y_hat"),
        ("class", cls, "cls"),
    ]
    out = [f"The worked example: one {act.name} neuron, row 0 of {ds.name}",
           f"  {'quantity':<16}{'computed':<22}" + ("" if differs else "printed")]
    for name, value, key in rows:
        p = getattr(printed, key)
        shown = f"{cls} ({rule})" if key == "cls" else _fmt(
            tuple(value) if isinstance(value, list) else value
        )
        if differs or p is None:
            out.append(f"  {name:<16}{shown:<22}")
            continue
        p_list = list(p) if isinstance(p, tuple) else p
        ok = _agrees(value, p_list)
        mark = "✓" if ok else "✗ misprint"
        if not ok and key == "z" and printed.wx is not None and _agrees(
                printed.wx + b, p_list):
            mark += " (follows from the printed wᵀx)"
        if not ok and key == "y_hat" and printed.z is not None:
            mark += f" ({act.name}({_fmt(printed.z)}) would be "
            mark += f"{float(act(np.asarray(printed.z))):.6f})"
        p_shown = _fmt(tuple(p_list) if isinstance(p_list, list) else p_list)
        out.append(f"  {name:<16}{shown:<22}{p_shown:<16}{mark}")
    if differs:
        out.append("  not compared with what the lesson printed, which is for its own setup: "
                   + "; ".join(differs))
    return "\n".join(line.rstrip() for line in out)


def _prob(p: float) -> str:
    # Near 1, six decimals would print 1.000000 and hide how sure the neuron is.
    return f"1 − {1 - p:.1e}" if 0.999999 < p < 1 else f"{p:.6f}"


def lesson_training(t: LessonTraining | LessonSkipped, result: JobResult) -> str:
    """The line the lesson's later chapters promise: what training makes of its weights (or
    why the activation cannot be trained)."""
    plan = result.plan
    if isinstance(t, LessonSkipped):
        return (f"\nNot trained on {t.dataset} as the lesson goes on to do: "
                f"activation={plan.activation.name}: {t.why}")
    ds, tr, printed = plan.lesson_train, plan.trainer, plan.printed
    verdict = ds.positive if t.positive else ds.negative
    lessons = (printed.w is None or _same(t.w0, printed.w)) and (
        printed.b is None or _same(t.b0, printed.b))
    start = "the lesson's start" if lessons else "your weights"
    return (
        f"\nTrained from {start} on {t.dataset} ({t.n_rows} rows; "
        f"{tr.epochs} epochs of gradient descent, lr {tr.lr:g}, l2 {tr.l2:g}):\n"
        f"  w = {_fmt(t.w0)}, b = {_fmt(t.b0)}  →  "
        f"w = {_fmt(t.w)}, b = {_fmt(t.b)}  (accuracy {t.accuracy:.4f}, "
        f"log-loss {t.loss:.4f})\n"
        f"  under them the lesson's person gets ŷ = {_prob(t.y_hat)}: {verdict}"
    )
