"""Publishing from the job's own process, faster: helper processes log a share of the child
runs, and the plots are drawn in a forked process while this one logs."""

from __future__ import annotations

from runner import limits
from runner.speedups.helpers import FastTracker, import_mlflow
from runner.speedups.processes import ChildEnded, Forked, can_fork
from runner.tracking.publish import (
    DrawPlots,
    Outcome,
    Published,
    Publisher,
    open_tracker,
    publish,
)


class LocalPublisher(Publisher):
    def __init__(self, tracking):
        import_mlflow(tracking.uri)  # before the store is opened: see helpers.import_mlflow
        super().__init__(tracking)
        self.processes = tracking.processes

    def tracker(self, outcome: Outcome) -> FastTracker:
        t = outcome.tracking
        helpers = self.processes - 1 if t.n_children >= limits.PARALLEL_CHILDREN_FROM else 0
        return FastTracker(t.uri, t.experiment, helpers)

    def publish(self, outcome: Outcome, draw: DrawPlots | None) -> Published:
        # A second process draws only when there are child runs to log meanwhile.
        if (draw is None or outcome.tracking.n_children < limits.PARALLEL_PLOTS_FROM
                or not can_fork()):
            return super().publish(outcome, draw)
        drawer = Drawer(draw)
        try:
            tracker = open_tracker(self.tracker, outcome)
        except BaseException:
            drawer.close()
            raise
        try:
            parent = publish(outcome, tracker, drawer.wait)
            return Published(parent, tracker.experiment_id, tracker.processes,
                             tuple(drawer.wait()))
        finally:
            tracker.close()
            drawer.close()


class Drawer(Forked):
    """The plots, drawn in a forked process; `wait` gives their paths (the same answer each
    time it is asked)."""

    def __init__(self, draw: DrawPlots):
        super().__init__(_draw_and_send, draw, name="plots")
        self._answer = None

    def wait(self):
        if self._answer is None:
            try:
                self._answer = self.receive("the plotting process")
            except ChildEnded as e:
                self._answer = (False, str(e))
        ok, value = self._answer
        if not ok:
            raise RuntimeError(f"plots: {value}")
        return value


def _draw_and_send(conn, draw):
    try:
        conn.send((True, list(draw())))
    except Exception as e:  # noqa: BLE001 - raised again in the parent
        conn.send((False, f"{type(e).__name__}: {e}"))
