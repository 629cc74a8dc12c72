"""rsimeter: measures how much AI builds AI."""

__version__ = "0.1.0"
