"""Naive pure-Python references the fast implementations are tested against."""
