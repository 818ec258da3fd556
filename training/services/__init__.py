"""Training writes, one module per domain action (runs, registry, generation, schedules)."""
