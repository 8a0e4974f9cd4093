"""Screenshot every SPA page at desktop and phone widths, light and dark, and report console errors.

Run against a live server (``make run``, or ``flask run`` plus a worker) from the repository root:

    .venv/bin/python frontend/scripts/shoot.py --base-url http://127.0.0.1:5000 --seed \\
        --user alice --password 'alice-pass' --admin admin --admin-password 'admin-pass'

Screenshots land in ``--out`` (default /tmp/web-shots) as ``<page>-<width>-<scheme>.png``. The run
fails (exit 1) when a page throws, or when the browser reports a Content-Security-Policy violation.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import ConsoleMessage, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIGN_OUT = re.compile(r"^(Sign out|Abmelden)$")
LOADING = re.compile(r"^(Loading…|Wird geladen …)$")
VIEWPORTS = {"desktop": (1280, 800), "phone": (360, 780)}
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
PUBLIC_PAGES = {
    "home": "/",
    "login": "/login",
    "register": "/register",
    "forgot": "/forgot-password",
    "reset": "/reset-password?token=example",
    "verify": "/verify-email?token=not-a-real-token",
    "devmail": "/dev/mail",
    "notfound": "/no-such-page",
}
USER_PAGES = {"new-post": "/posts/new", "jobs": "/jobs", "account": "/account"}
ADMIN_PAGES = {"admin-users": "/admin/users"}


def _api(base: str, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
        raw = response.read()
    return json.loads(raw) if raw else None


def _token(base: str, username: str, password: str) -> str:
    body = {"username": username, "password": password}
    return str(_api(base, "POST", "/api/v1/auth/login", body=body)["access_token"])


def _png(width: int, height: int, hue: int) -> bytes:
    """A small gradient picture, so posts have something to show."""
    from PIL import Image

    image = Image.new("RGB", (width, height))
    for x in range(width):
        for y in range(height):
            image.putpixel((x, y), ((hue + x) % 256, (y * 2) % 256, (hue * 3 + x + y) % 256))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _upload(base: str, token: str, name: str, content: bytes, content_type: str) -> dict[str, Any]:
    boundary = "----flaskyard-shoot"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(base + "/api/v1/uploads", data=body, method="POST")  # noqa: S310
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
        return dict(json.loads(response.read()))


def seed(base: str, username: str, password: str) -> None:
    """Give the feed a post with pictures and the jobs page a finished and a running job."""
    token = _token(base, username, password)
    ids = [
        _upload(base, token, f"picture-{hue}.png", _png(160, 120, hue), "image/png")["id"]
        for hue in (20, 140)
    ]
    post = {
        "title": "A walk by the harbour",
        "body": "Two pictures from this morning.\n\nThe light was soft and the water calm.",
        "upload_ids": ids,
    }
    _api(base, "POST", "/api/v1/posts", token, post)
    _api(
        base, "POST", "/api/v1/jobs", token, {"type": "demo", "params": {"seconds": 1, "steps": 2}}
    )
    _api(base, "POST", "/api/v1/jobs", token, {"type": "export_posts", "params": {}})
    _api(
        base,
        "POST",
        "/api/v1/jobs",
        token,
        {"type": "demo", "params": {"seconds": 120, "steps": 60}},
    )


def _first_post_id(base: str) -> str | None:
    items = _api(base, "GET", "/api/v1/posts?per_page=1")["items"]
    return str(items[0]["id"]) if items else None


def _sign_in(page: Page, base: str, username: str, password: str) -> None:
    # By id, not label, so this works in either language.
    page.goto(base + "/login")
    page.locator("#login-username").fill(username)
    page.locator("#login-password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.get_by_role("button", name=SIGN_OUT).wait_for(timeout=15000)


def _shoot(page: Page, base: str, pages: dict[str, str], tag: str, out: Path) -> None:
    for name, path in pages.items():
        page.goto(base + path)
        # Not "networkidle": job pages keep their event streams open for as long as jobs run.
        page.locator("#page-title").wait_for()
        page.locator("main").get_by_text(LOADING).first.wait_for(state="detached")
        page.wait_for_timeout(600)  # let live progress and images settle
        page.screenshot(path=str(out / f"{name}-{tag}.png"), full_page=True)
        print(f"  {name:<12} {path}")


def _variant(
    page: Page,
    args: argparse.Namespace,
    tag: str,
    pick: Callable[[dict[str, str]], dict[str, str]],
    user_pages: dict[str, str],
) -> list[str]:
    """Shoot every page in one browser context; returns the problems the browser reported."""
    base = args.base_url.rstrip("/")
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            print(f"  console: {message.text}")
            if "Content Security Policy" in message.text:
                problems.append(f"[{tag}] {page.url}: {message.text}")

    def on_error(error: Exception) -> None:
        problems.append(f"[{tag}] {page.url}: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_error)
    _shoot(page, base, pick(PUBLIC_PAGES), tag, args.out)
    if args.user:
        _sign_in(page, base, args.user, args.password)
        _shoot(page, base, pick(user_pages), tag, args.out)
    if args.admin:
        page.context.clear_cookies()
        _sign_in(page, base, args.admin, args.admin_password)
        _shoot(page, base, pick(ADMIN_PAGES), tag, args.out)
    return problems


def main() -> int:
    """Parse options, seed if asked, then shoot every page in every variant."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--out", type=Path, default=Path("/tmp/web-shots"))  # noqa: S108 - a scratch dir
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--admin")
    parser.add_argument("--admin-password")
    parser.add_argument("--lang", choices=("en", "de"), default="en")
    parser.add_argument(
        "--seed", action="store_true", help="create a post with pictures and some jobs first"
    )
    parser.add_argument("--only", help="comma-separated page names to shoot (default: all)")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)

    try:
        if args.seed and args.user:
            seed(base, args.user, args.password)
        post_id = _first_post_id(base)
    except urllib.error.URLError as exc:
        print(f"The server at {base} did not answer as expected: {exc}.", file=sys.stderr)
        return 2

    user_pages = dict(USER_PAGES)
    if post_id:
        user_pages["post"] = f"/posts/{post_id}"
        user_pages["edit-post"] = f"/posts/{post_id}/edit"
    wanted = set(args.only.split(",")) if args.only else None

    def pick(pages: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in pages.items() if wanted is None or k in wanted}

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, (width, height) in VIEWPORTS.items():
            for scheme in SCHEMES:
                print(f"{label} {width}px, {scheme}:")
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,
                    locale="de-DE" if args.lang == "de" else "en-US",
                )
                tag = f"{width}-{scheme}" + ("" if args.lang == "en" else f"-{args.lang}")
                problems += _variant(context.new_page(), args, tag, pick, user_pages)
                context.close()
        browser.close()
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    print(f"Screenshots in {args.out}.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
