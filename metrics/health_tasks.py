"""Health-score tasks (see metrics/health.py)."""
