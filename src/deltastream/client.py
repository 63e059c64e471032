"""A Python client of a DeltaStream server (filled in by the client module's own change)."""
