"""Uploaded files: checked, stored under server-made names, served as attachments."""
