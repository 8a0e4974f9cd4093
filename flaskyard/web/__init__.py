"""The front-end route: serves the built single-page app."""
