"""The Hydra app behind `python -m runner` and its MLflow side."""
