"""The stored runs of a job are what the code before the restructuring stored (tests/golden/,
with the changes tests/golden.py lists as intended), through the fast path (the worker) and the
plain path alike: params, metrics, tags and artifacts' contents, but ids and times."""

import json

import pytest

from tests.golden import COMMANDS, expected, run, same

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("speedups", [True, False], ids=["fast", "plain"])
@pytest.mark.parametrize("name, overrides", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_stored_runs_match_the_golden_sample(tmp_path, migrated_store, name, overrides,
                                             speedups):
    golden = expected(name)
    stored = run(name, overrides, tmp_path, speedups=speedups, store=migrated_store)
    differences = same(golden, json.loads(json.dumps(stored)))
    assert not differences, "\n".join(differences[:20])
