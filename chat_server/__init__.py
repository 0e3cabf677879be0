"""wirechat's server: one chat core driven by interchangeable IO backends."""

__version__ = "0.1.0"
