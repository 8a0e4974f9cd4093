"""The development mailbox: every mail the app delivers, kept for ``GET /api/v1/dev/mail``."""
