"""Build step: take out of the image's venv what none of its processes ever loads.

Run in the build stage after the package is installed (``python docker/slim_venv.py``); it
prints what each step removed. Every step keeps the installed distributions whole as far as
``pip freeze`` and the lock are concerned (their metadata stays): only files no role reads go.

1. Babel's locale data for languages the app has no catalogue for (~1,000 files): the app
   only selects English or a language under flaskyard/translations/ (flaskyard.i18n).
2. Test suites that packages ship inside themselves (``tests`` directories).
3. Pillow's AVIF and FreeType modules, and the bundled libraries only they link: thumbnails
   open only the formats uploads accept (flaskyard.jobs.tasks.THUMBNAIL_FORMATS), and
   nothing draws text.
4. Bytecode nobody loads: the image's processes are started here once each way they start
   (web app on each database, dashboard, worker and its jobs, migrations, scheduler,
   supervisor, boot and health check; in subprocesses, with no service reachable), and only
   the ``.pyc`` of modules they imported are kept. A module left out keeps its ``.py``: it
   still imports (compiled in memory) if something ever needs it.
5. The sources of the third-party modules that are loaded (~19 MB): their bytecode takes
   the source's place (``mod.pyc`` beside where ``mod.py`` was, which Python imports as it
   is). Tracebacks through them show file, line and function, not the line's text; the
   app's own package keeps its sources. With ``--keep-sources`` this step is skipped.

The development image (``--target dev``) is built before this step and keeps everything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from pathlib import Path

SITE = Path(sysconfig.get_paths()["purelib"])
#: Pillow's extension modules the app never uses (see 3. above).
PILLOW_UNUSED = ("_avif", "_imagingft")

#: Run once per database URL, in a fresh interpreter; prints the files of every module loaded.
CENSUS = r"""
import json, os, sys

url = os.environ["DATABASE_URL"] = sys.argv[1]
import gunicorn.app.wsgiapp, gunicorn.workers.gthread, gunicorn.glogging  # noqa: F401
import flaskyard.boot.roles, flaskyard.boot.healthcheck  # noqa: F401
from flaskyard import create_app
from flaskyard.dashboard import create_dashboard_app

app = create_app()
client = app.test_client()
for path in ("/healthz", "/api/openapi.json", "/api/docs", "/", "/metrics", "/admin/rq/"):
    client.get(path).close()
create_dashboard_app()
if url.startswith("sqlite"):
    # Migrations, then the pages that read the database (Redis is unreachable: errors are fine).
    from flaskyard.boot.migrations import run_migrations
    run_migrations()
    for path in ("/api/v1/posts", "/api/v1/users/me"):
        client.get(path).close()
    client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x" * 12}).close()
    # The worker, its jobs and the scheduler, as `flask worker` / `flask scheduler` load them.
    import flask.cli, rq.scheduler, flaskyard.worker, flaskyard.jobs.tasks  # noqa: F401
    from PIL import Image
    Image.init()
    import supervisor.supervisord, supervisor.supervisorctl  # noqa: F401
files = sorted({f for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))})
print(json.dumps(files))
"""


def size_of(paths: Iterable[Path]) -> int:
    """Bytes in ``paths`` (files, or directories counted whole)."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.exists():
            total += path.stat().st_size
    return total


def remove(paths: Iterable[Path]) -> int:
    """Delete ``paths``; return the bytes freed."""
    freed = 0
    for path in list(paths):
        freed += size_of([path])
        if path.is_dir():
            for child in sorted(path.rglob("*"), reverse=True):
                child.rmdir() if child.is_dir() else child.unlink()
            path.rmdir()
        elif path.exists():
            path.unlink()
    return freed


def babel_locales() -> int:
    import babel

    from flaskyard.i18n import available_locales

    keep = {"root", *(name.split("_")[0] for name in available_locales())}
    data = Path(babel.__file__).parent / "locale-data"
    return remove(p for p in data.glob("*.dat") if p.stem.split("_")[0] not in keep)


def test_suites() -> int:
    found = [p for p in SITE.glob("*/tests") if p.is_dir()]
    found += [SITE / "tests"] if (SITE / "tests").is_dir() else []
    return remove(found)


def _needed(library: Path) -> set[str]:
    """The shared libraries an ELF file links (readelf, from binutils in the build stage)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        raise SystemExit("slim_venv: readelf (binutils) is needed to see what Pillow links")
    output = subprocess.run(  # noqa: S603 - binutils' readelf on a file of ours
        [readelf, "--dynamic", str(library)], capture_output=True, text=True, check=True
    ).stdout
    return {
        line.split("[", 1)[1].split("]", 1)[0] for line in output.splitlines() if "(NEEDED)" in line
    }


def pillow_codecs() -> int:
    pil = SITE / "PIL"
    bundled = SITE / "pillow.libs"
    unused = [p for name in PILLOW_UNUSED for p in pil.glob(f"{name}.*.so")]
    freed = remove(unused)
    # Keep every bundled library that a remaining module links, directly or through another.
    wanted: set[str] = set()
    todo = list(pil.glob("*.so"))
    while todo:
        for name in _needed(todo.pop()):
            if name not in wanted and (bundled / name).exists():
                wanted.add(name)
                todo.append(bundled / name)
    return freed + remove(p for p in bundled.iterdir() if p.name not in wanted)


def census() -> set[Path]:
    """The source files of every module the image's processes load."""
    loaded: set[Path] = set()
    with tempfile.TemporaryDirectory() as scratch:
        environ = {
            **os.environ,
            "APP_ENV": "production",
            "SECRET_KEY": "census-" + "x" * 40,
            "JWT_SECRET_KEY": "census-" + "y" * 40,
            "REDIS_URL": "redis://127.0.0.1:9/0",  # nothing listens: never reached
            "INSTANCE_DIR": scratch,
            "UPLOAD_DIR": scratch,
            "LOG_LEVEL": "CRITICAL",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        urls = (
            f"sqlite:///{scratch}/census.db",
            "postgresql+psycopg://census@127.0.0.1:9/census",
            "mysql+pymysql://census@127.0.0.1:9/census",
        )
        for url in urls:
            result = subprocess.run(  # noqa: S603 - this interpreter, our own script
                [sys.executable, "-c", CENSUS, url],
                capture_output=True,
                text=True,
                env=environ,
                cwd=scratch,
                check=False,
            )
            if result.returncode != 0:
                raise SystemExit(
                    f"slim_venv: census on {url.split(':')[0]} failed:\n{result.stderr}"
                )
            loaded.update(Path(f) for f in json.loads(result.stdout.strip().splitlines()[-1]))
    return loaded


def _third_party(path: Path) -> bool:
    return path.relative_to(SITE).parts[0] != "flaskyard"


def bytecode(loaded: set[Path]) -> int:
    unused = []
    for cached in SITE.rglob("__pycache__/*.pyc"):
        source = cached.parent.parent / (cached.name.split(".", 1)[0] + ".py")
        if source not in loaded and _third_party(cached):
            unused.append(cached)
    return remove(unused)


def sources(loaded: set[Path]) -> int:
    freed = 0
    tag = sys.implementation.cache_tag
    for source in sorted(loaded):
        if source.suffix != ".py" or not source.is_relative_to(SITE) or not _third_party(source):
            continue
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if cached.exists():
            freed += source.stat().st_size
            cached.replace(source.with_suffix(".pyc"))
            source.unlink()
    for empty in [p for p in SITE.rglob("__pycache__") if not any(p.iterdir())]:
        empty.rmdir()
    return freed


def main(argv: list[str]) -> int:
    """Run the steps; print what each freed."""
    loaded = census()  # first, while everything is still there
    steps = {
        "babel locale data": babel_locales,
        "bundled test suites": test_suites,
        "Pillow AVIF/FreeType": pillow_codecs,
        "bytecode of modules never loaded": lambda: bytecode(loaded),
    }
    if "--keep-sources" not in argv:
        steps["sources of loaded third-party modules"] = lambda: sources(loaded)
    for label, step in steps.items():
        print(f"slim_venv: {label}: {step() / 1e6:.1f} MB")
    print(f"slim_venv: {len(loaded)} modules loaded by the image's processes keep their bytecode")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
