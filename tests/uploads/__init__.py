"""Tests of file uploads."""
