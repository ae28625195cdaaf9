"""The MLflow side: where runs go (`store`), how a job's runs are written (`tracker`), and
what a job publishes (`publish`). mlflow is imported only when tracking is on, so
`tracking=off` and `--help` never pay for it."""
