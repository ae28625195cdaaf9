"""The luck report as markdown: the parent run's description in the MLflow UI."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.report.luck import LuckReport
from runner.report.stats import percent
from runner.report.text import network_sentence

# What makes markdown out of text: emphasis, code, links and images, tables and headings are
# escaped with a backslash, and so is the '.' of a bare www.host (a link); raw HTML, entities
# and the ':' of a bare URL (a link too) become entities, as the UI's renderer shows a
# backslash before them.
_BACKSLASHED = re.compile(r"([\\`*_{}\[\]!|#~])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", ":": "&#58;"}
_WWW = re.compile(r"(?i)(www)\.")  # a bare www.host is a link too


def escape(text: str) -> str:
    """User text (dataset names, labels) shown as itself in the MLflow UI's markdown: no
    link, image, HTML or formatting of its own."""
    text = _BACKSLASHED.sub(r"\\\1", str(text).replace("\n", " "))
    text = _WWW.sub(r"\1\\.", text)
    return "".join(_ENTITIES.get(c, c) for c in text)


@dataclass(frozen=True)
class Links:
    """Where a description points, as the UI's relative addresses."""

    seeds: str | None = None  # the job's child runs in a table, in seed order
    n_children: int = 0
    plots: tuple[tuple[str, str], ...] = ()  # (artifact path, address of its preview)


def lead(s: LuckReport) -> str:
    """The report in one short sentence: what training removed, else how far the seed moves
    accuracy."""
    if s.training is not None:
        return s.training.sentence.split(". ", 1)[0].rstrip(".") + "."
    first = s.verdict.split(". ", 1)[0]
    return first.split(";", 1)[0].rstrip(".") + "."


def description(s: LuckReport, links: Links = Links()) -> str:
    """The parent run's description. The UI shows its first ~100 px and folds the rest behind
    "Show more": the first line says how much was luck and links to the seeds."""
    a = s.metric("accuracy")
    conf = percent(s.confidence)
    first = f"**{lead(s)}**"
    if links.seeds:
        first += f" [The {links.n_children:,} seeds, in seed order]({links.seeds})"
    lines = [
        first,
        "",
        f"## How much is luck? {s.activation} "
        f"{'network' if s.network is not None else 'neuron'} on {escape(s.dataset)}, "
        f"{s.n_seeds:,} {'seeds' if s.sources is None else 'runs'} ({s.seeds})"
        + (f", measured on {s.measured_on}" if s.measured_on else ""),
        "",
        f"**{s.verdict}**",
        "",
    ]
    if s.highlight is not None:
        lines += [f"**{escape(s.highlight.sentence)}**", ""]
    if s.sources is not None:
        lines += ["## Where does the luck come from?", ""]
        if s.sources.accuracy:
            lines += [f"| source | share of the variance of accuracy | {conf} CI |",
                      "|---|---|---|"]
            lines += [f"| {sh.term.replace('_x_', ' × ')} | {sh.share:.1%} | "
                      f"[{sh.low:.1%}, {sh.high:.1%}] |" for sh in s.sources.accuracy]
            lines.append("")
        lines += [escape(s.sources.sentence), ""]
    if s.network is not None:
        lines += [network_sentence(s.network, s.n_seeds), ""]
    if s.training is not None:
        lines += [f"**{s.training.sentence}** (the table below is after training)", ""]
    lines += [
        f"| metric | mean | std | min | median | max | IQM | {conf} CI of the mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in s.metrics:
        t = m.stats
        lines.append(
            f"| {m.name} | {t.mean:.4f} | {t.std:.4f} | {t.min:.4f} | "
            f"{t.median:.4f} | {t.max:.4f} | {t.iqm:.4f} | "
            f"[{t.ci_low:.4f}, {t.ci_high:.4f}] |"
        )
    best = s.expected_best
    lines += [
        "",
        "**Expected best accuracy of k seeds** (Dodge et al. 2019): " + ", ".join(
            f"k={k}: {best.at(k):.4f}" for k in best.picks()),
        "",
        f"Constant guess (majority class): {s.baseline_accuracy:.4f}; seeds that beat it: "
        f"{s.share_beating_baseline:.1%}. Rows decided by luck: {s.rows.contested} of "
        f"{len(s.rows.share_positive)} ({a.n:.0f} {'seeds' if s.sources is None else 'runs'}).",
    ]
    if links.plots:
        lines += ["", "Plots under Artifacts → `plots/`: " + ", ".join(
            f"[`{path}`]({address})" for path, address in links.plots) + "."]
    return "\n".join(lines)
