"""DeltaStream: an options-analytics server."""

__version__ = "0.1.0"
