"""Insight: check a mapping against real outcomes (backtest), turn lead exports into
canonical records (import-csv), and render the KPI report from the state store.

Everything here reads; nothing writes to a CRM. Metrics are pure functions over scored
rows, so the same numbers back the text tables, the JSON and the HTML pages.
"""
