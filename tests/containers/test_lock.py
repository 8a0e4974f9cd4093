"""The image's virtualenv holds exactly the locked packages: no more, no fewer, no other versions.

The lock is the exported requirements file the image was built from (``requirements/main.txt``
unless ``FLASKYARD_IMAGE_REQUIREMENTS`` names another, e.g. ``requirements/granian.txt``). Its
environment markers are evaluated with the image's own interpreter, and ``pip freeze --all`` is
read by the base image's pip pointed at ``/opt/venv`` (the venv itself has no pip).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.containers.conftest import docker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "flaskyard"
MARKER_ENVIRONMENT = (
    "import json; from packaging.markers import default_environment; "
    "print(json.dumps(default_environment()))"
)


def locked(path: Path, environment: dict[str, str]) -> dict[str, str]:
    """``{name: version}`` of a hash-pinned export, for the requirements whose markers apply."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line[:1].isalnum():
            continue  # hashes, comments and "# via" lines
        requirement = Requirement(line.removesuffix("\\").strip())
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name} does not pin {line!r} with ==."
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def frozen(lines: str) -> dict[str, str]:
    """``{name: version}`` from ``pip freeze`` output; a direct reference keeps its URL."""
    found: dict[str, str] = {}
    for line in lines.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep:
            name, _, version = line.partition(" @ ")
        found[canonicalize_name(name.strip())] = version.strip()
    return found


def same_version(locked_version: str, installed: str) -> bool:
    """Whether ``installed`` is the locked version (spelled either way); URLs never are."""
    try:
        return Version(installed) == Version(locked_version)
    except InvalidVersion:
        return False


def test_image_venv_matches_the_lock_exactly(image: str) -> None:
    lock = os.environ.get("FLASKYARD_IMAGE_REQUIREMENTS", "requirements/main.txt")
    requirements = ROOT / lock
    run = ("run", "--rm", "--network", "host", "--entrypoint")
    environment = json.loads(docker(*run, "python", image, "-c", MARKER_ENVIRONMENT).stdout)
    # `pip` resolves to the base image's: /opt/venv comes first on PATH but has none.
    freeze = docker(*run, "pip", image, "--python", "/opt/venv/bin/python", "freeze", "--all")

    want = locked(requirements, environment)
    have = frozen(freeze.stdout)
    assert PROJECT in have, f"The image's venv does not contain {PROJECT}:\n{freeze.stdout}"
    del have[PROJECT]

    missing = sorted(f"{name}=={want[name]}" for name in want.keys() - have.keys())
    extra = sorted(f"{name}=={have[name]}" for name in have.keys() - want.keys())
    changed = sorted(
        f"{name} {want[name]} locked, {have[name]} installed"
        for name in want.keys() & have.keys()
        if not same_version(want[name], have[name])
    )
    assert not (missing or extra or changed), (
        f"The image's venv differs from {lock}: "
        f"missing {missing or 'none'}; not locked {extra or 'none'}; "
        f"other versions {changed or 'none'}."
    )
    assert len(want) > 50, f"Only {len(want)} requirements were read from {lock}."
