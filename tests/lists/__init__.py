"""Tests of what the list endpoints cost per request."""
