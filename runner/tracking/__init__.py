"""The MLflow side: whether a store can take a job's runs (`checks`), its set-up (`setup`),
how a job's runs are written (`tracker`), and what a job publishes (`publish`); the URI as
text is runner.uri. mlflow is imported only when tracking is on, so `tracking=off` and
`--help` never pay for it."""
