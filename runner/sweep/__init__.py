"""Hydra multiruns (sweeps): the callback that sets one up and reports on it (`callback`),
and the report that compares its jobs (`report`)."""
