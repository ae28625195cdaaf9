"""`mlflow ui --app-name neuron-luck` (what `python -m runner.ui` starts): MLflow's own server
and web app, whose page opens on this project's runs in MLflow's model-training workspace.

MLflow 3.17's web app opens in its GenAI workspace unless the page's address says otherwise or
the browser stored the choice (localStorage `mlflow.workflowType_v1`, written by the sidebar's
"Model training" toggle), and its home page lists experiments whose links open the GenAI
view. The server here sends MLflow's own page with a few lines in front of it that, in the
browser: store "Model training" unless the user chose a workspace before, keep MLflow's
assistant panel from opening by itself (it takes a third of a laptop's screen), and send the
bare home page to the experiment's saved view of its jobs, and make that view what the
experiment's runs page shows until the user changes it (the experiment: NEURON_LUCK_UI_EXPERIMENT,
set by `python -m runner.ui`).

Registered as MLflow's app plugin `neuron-luck` (pyproject.toml, entry point `mlflow.app`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

EXPERIMENT = "NEURON_LUCK_UI_EXPERIMENT"  # the id of the experiment the UI opens on

_SCRIPT = """<script>(function () {
  var home = %(home)s, stateKey = %(state_key)s, state = %(state)s;
  try {
    var s = window.localStorage;
    if (s.getItem("mlflow.workflowType_v1") === null)
      s.setItem("mlflow.workflowType_v1", JSON.stringify("machine_learning"));
    if (s.getItem("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1") === null)
      s.setItem("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1", "true");
    if (stateKey && s.getItem(stateKey) === null)
      s.setItem(stateKey, JSON.stringify(state));
  } catch (e) {}
  var h = window.location.hash;
  if (home && (h === "" || h === "#" || h === "#/"))
    window.location.replace(window.location.pathname + window.location.search + home);
})();</script>"""


def page(index_html: str, experiment_id: str | None) -> str:
    """MLflow's index.html with the script above run first (before MLflow's own scripts)."""
    from runner.tracking import views

    home = state_key = state = None
    if experiment_id:
        home = views.jobs_fragment(experiment_id, served_by_runner_ui=True)
        # The runs page's remembered state for this experiment (filter, sort, columns), as
        # the web app stores it: used when the page's address names none (the experiment's
        # own link, the sidebar's "Runs"), until the user changes it.
        state_key = f'MLflowLocalStorage-1.1-ExperimentPage-["{experiment_id}"]-ReactComponentState'
        state = views.jobs_state()
    script = _SCRIPT % {"home": json.dumps(home or ""), "state_key": json.dumps(state_key),
                        "state": json.dumps(state)}
    return index_html.replace("<head>", "<head>" + script, 1)


def create_app():
    """The app MLflow serves: its Flask app with the page above, wrapped for uvicorn as
    MLflow wraps it when no plugin is named."""
    from flask import Response
    from mlflow.server import app

    index = Path(app.static_folder) / "index.html"

    def serve():
        if not index.exists():  # a source checkout of MLflow without its built web app
            return original()
        html = page(index.read_text(encoding="utf-8"), os.environ.get(EXPERIMENT))
        return Response(html, mimetype="text/html", headers={"Cache-Control": "no-cache"})

    original = app.view_functions["serve"]
    app.view_functions["serve"] = serve
    if os.environ.get("_MLFLOW_SGI_NAME", "uvicorn") == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(app)
    return app
