"""MLflow: registered model names, aliases, promotion, comparison, inference pipelines."""
