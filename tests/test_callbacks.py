"""What the multirun callback hands the jobs arrives as the same value."""

import pytest

from runner.sweep.callback import _quoted, sweep_id_override


# Ids that Hydra would type if left bare (554578374e83 became 5.54578374e+91 in CI).
@pytest.mark.parametrize("sweep_id", ["554578374e83", "000000000012", "123456789012",
                                      "1e5", "abcdef012345", "nan", "inf", "true", "null"])
def test_sweep_id_reaches_the_job_as_the_same_string(make_cfg, sweep_id):
    assert make_cfg(sweep_id_override(sweep_id)).sweep_id == sweep_id


@pytest.mark.parametrize("uri", ["sqlite:////tmp/a b/mlflow.db", "file:///C:\\runs\\",
                                 "http://u:p'w@127.0.0.1:5000", "sqlite:///x\\'y.db",
                                 "postgresql://u:p%40ss@h/db?x=1,2"])
def test_quoted_values_arrive_unchanged(make_cfg, uri):
    assert make_cfg(f"tracking.uri={_quoted(uri)}").tracking.uri == uri
