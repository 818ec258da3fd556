"""Preference datasets: aggregation, filters, splits, formats, immutable snapshots."""
