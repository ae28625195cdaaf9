"""The stored runs of a job are what the code before the restructuring stored (tests/golden/),
through the worker path and in-process alike: params, metrics, tags and artifacts' contents,
but ids and times."""

import json

import pytest

from tests.golden import COMMANDS, GOLDEN, run, same

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "in-process"])
@pytest.mark.parametrize("name, overrides", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_stored_runs_match_the_golden_sample(tmp_path, name, overrides, worker):
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    stored = run(name, overrides, tmp_path, worker=worker)
    differences = same(golden, json.loads(json.dumps(stored)))
    assert not differences, "\n".join(differences[:20])
