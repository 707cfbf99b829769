"""Reports a person reads: multi-seed tables now; the HTML report comes later."""

from .tables import seed_table, summarize_runs

__all__ = ["seed_table", "summarize_runs"]
