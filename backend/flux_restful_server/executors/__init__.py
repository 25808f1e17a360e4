"""Executors: what runs jobs (the local one embedded here, or a real Flux instance)."""
