"""The bad-input table: one module of cases per area (``cases_*.py``), one test."""
