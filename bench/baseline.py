"""The baseline: a bare Flask app, served by the same gunicorn settings as Flaskyard.

``GET /json`` returns ``{"message": "Hello, World!"}`` through ``jsonify`` (the TechEmpower
"JSON serialization" shape). Run as ``gunicorn --pythonpath bench baseline:app``.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/json")
def json_hello() -> Response:
    """The smallest realistic JSON response Flask can give."""
    return jsonify(message="Hello, World!")
