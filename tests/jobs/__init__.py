"""Tests of background jobs: API, events, reliability, import and export."""
