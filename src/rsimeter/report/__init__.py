"""The HTML report and the dashboard."""
