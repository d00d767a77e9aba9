"""Real-time AI background removal for OBS Studio."""

__version__ = "0.1.0"
