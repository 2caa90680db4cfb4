"""Scaling studies on the cluster: point execution, MLflow records and reports."""
