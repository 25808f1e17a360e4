"""Screens of the dashboard, one per module."""
