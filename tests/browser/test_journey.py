"""The whole web app as people use it, in headless Chromium against a live stack.

One person signs up, confirms their email from the development mailbox, signs in, posts a
picture, sees its thumbnail in the feed signed out, runs, watches and cancels jobs, exports their
posts and imports the export again; an administrator promotes and demotes them (their next admin
action is refused) and opens the job dashboard; the person switches to German and signs out.
Controls are found by role and accessible name, as in the contract's "Web UI" table, and every
page is checked with axe-core in light and dark.

``SCREENSHOT_DIR=docs/img`` (``make screenshots``) keeps the screenshots for the README.
"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.support.browser import check_accessibility
from tests.support.stack import LiveStack

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(600)]

PASSWORD = "a-long-journey-password"
LOADING = re.compile(r"^(Loading…|Wird geladen …)$")
#: Slow enough for the upload bar to be seen on loopback, where a send takes a millisecond.
UPLOAD_BYTES_PER_SECOND = 200 * 1024
JOB_TIMEOUT_MS = 60_000


def picture(width: int = 480, height: int = 320, seed: int = 7) -> bytes:
    """A PNG of a harbour at dawn; its film grain keeps it from compressing to nothing, so the
    upload takes a while when throttled."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = height * 3 // 5
    for y in range(horizon):
        t = y / horizon
        sky = (int(70 + 180 * t), int(90 + 90 * t), int(160 - 40 * t))
        draw.line([(0, y), (width, y)], fill=sky)
    sun_x = width * 2 // 3
    draw.ellipse([sun_x - 36, horizon - 30, sun_x + 36, horizon + 42], fill=(255, 214, 140))
    for y in range(horizon, height):
        t = (y - horizon) / (height - horizon)
        sea = (int(40 - 20 * t), int(70 - 30 * t), int(110 - 40 * t))
        draw.line([(0, y), (width, y)], fill=sea)
    hull = (30, 30, 40)
    for x in range(40, 200, 28):
        top, bottom = horizon + 40, horizon + 50
        draw.polygon([(x, top), (x + 22, top), (x + 16, bottom), (x + 6, bottom)], fill=hull)
        draw.line([(x + 11, top), (x + 11, horizon + 8)], fill=hull, width=2)
    rng = random.Random(seed)
    grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    Image.blend(image, grain, 0.06).save(out, "PNG")
    return out.getvalue()


def settled(page: Page) -> None:
    """Until the page's heading is there and nothing in <main> says it is loading."""
    expect(page.locator("#page-title")).to_be_visible()
    expect(page.locator("main").get_by_text(LOADING)).to_have_count(0)


def visit(page: Page, path: str) -> None:
    page.goto(path)
    settled(page)


def sign_in(page: Page, username: str, password: str) -> None:
    visit(page, "/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    settled(page)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def api_json(context: BrowserContext, path: str) -> Any:
    response = context.request.get(path)
    assert response.ok, f"GET {path}: {response.status} {response.text()[:300]}"
    return response.json()


def throttle_uploads(page: Page, bytes_per_second: int) -> None:
    """Limit (or with -1, restore) the page's upload speed through the DevTools protocol."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def job_card(page: Page, type_label: str) -> Locator:
    """The newest job card of this type (the list is newest first).

    Locators are looked up again on every use, so a job started later takes this one's place:
    each step finishes with its card before it starts the next job.
    """
    return (
        page.get_by_role("listitem")
        .filter(has=page.get_by_role("progressbar", name=f"Progress of {type_label}"))
        .first
    )


def start_job(page: Page, type_label: str, **fields: str) -> Locator:
    page.get_by_label("Job type").select_option(label=type_label)
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    before = page.get_by_role("progressbar", name=f"Progress of {type_label}").count()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("progressbar", name=f"Progress of {type_label}")).to_have_count(
        before + 1
    )
    return job_card(page, type_label)


# -- steps ---------------------------------------------------------------------------------------


def sign_up_and_confirm(page: Page, username: str) -> None:
    """Sign up, see that posting waits for a confirmed email, confirm it from /dev/mail."""
    visit(page, "/")
    check_accessibility(page, "/")
    page.get_by_role("link", name="Sign in").click()
    settled(page)
    check_accessibility(page, "/login")
    visit(page, "/register")
    check_accessibility(page, "/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    welcome = f"We sent a confirmation link to {username}@example.com"
    expect(page.get_by_text(welcome)).to_be_visible()

    # Unconfirmed: the server refuses new posts, and the form offers to resend the link.
    page.get_by_role("link", name="New post").click()
    settled(page)
    page.get_by_label("Title").fill("Too early")
    page.get_by_role("button", name="Publish").click()
    alert = page.get_by_role("alert").filter(has_text="Confirm your email address first")
    expect(alert).to_be_visible()
    expect(alert.get_by_role("button", name="Resend")).to_be_visible()

    visit(page, "/dev/mail")
    check_accessibility(page, "/dev/mail")
    mail = page.get_by_role("listitem").filter(has_text=f"{username}@example.com").first
    mail.get_by_role("link", name=re.compile(r"verify-email\?token=")).first.click()
    expect(page.get_by_text("Email confirmed")).to_be_visible()
    settled(page)
    check_accessibility(page, "/verify-email")


def public_pages(page: Page) -> None:
    """The account pages a signed-out person reaches from mails and links."""
    visit(page, "/forgot-password")
    expect(page.get_by_role("button", name="Send reset link")).to_be_visible()
    check_accessibility(page, "/forgot-password")
    visit(page, "/reset-password?token=not-a-real-token")
    expect(page.get_by_role("button", name="Set password")).to_be_visible()
    check_accessibility(page, "/reset-password")


def post_with_a_picture(page: Page, shots: Path) -> str:
    """Write a post with a picture, watching the upload bar; returns the post's id."""
    page.get_by_role("link", name="New post").click()
    settled(page)
    check_accessibility(page, "/posts/new")
    page.get_by_label("Title").fill("Harbour at dawn")
    page.get_by_label("Body").fill("The light was soft and the water calm.")
    throttle_uploads(page, UPLOAD_BYTES_PER_SECOND)
    page.get_by_label("Image").set_input_files(
        {"name": "harbour.png", "mimeType": "image/png", "buffer": picture()}
    )
    bar = page.get_by_role("progressbar", name="Upload of harbour.png")
    expect(bar).to_be_visible()
    page.wait_for_function(
        "bar => { const v = Number(bar.getAttribute('aria-valuenow')); return v > 0 && v < 100; }",
        arg=bar.element_handle(),
    )
    shoot(page, shots, "web-post-editor")
    pictures = page.get_by_role("list", name="Attached images")
    expect(pictures.get_by_text("harbour.png")).to_be_visible(timeout=30_000)
    expect(bar).to_have_count(0)
    throttle_uploads(page, -1)
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/posts/[0-9a-f-]+$"))
    settled(page)
    expect(page.get_by_role("heading", name="Harbour at dawn")).to_be_visible()
    post_id = page.url.rsplit("/", 1)[-1]
    check_accessibility(page, "/posts/{id}")

    visit(page, f"/posts/{post_id}/edit")
    expect(page.get_by_role("button", name="Save")).to_be_visible()
    expect(page.get_by_role("button", name="Delete")).to_be_visible()
    check_accessibility(page, "/posts/{id}/edit")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/posts/{post_id}$"))
    return post_id


def thumbnail_in_the_feed_signed_out(page: Page, post_id: str, shots: Path) -> None:
    """Signed out, the feed shows the post with the thumbnail the worker made."""
    sign_out(page)
    thumbnail = None
    for _ in range(60):
        post = api_json(page.context, f"/api/v1/posts/{post_id}")
        thumbnail = post["attachments"][0]["thumbnail_url"]
        if thumbnail:
            break
        page.wait_for_timeout(500)
    assert thumbnail, "The worker made no thumbnail within 30 s."
    visit(page, "/")
    card = page.get_by_role("article").filter(has_text="Harbour at dawn")
    image = card.locator("img")
    expect(image).to_have_attribute("src", thumbnail)
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=image.element_handle())
    shoot(page, shots, "web-feed")
    # Past the last page, and a post address that cannot be one: the app says so in its words.
    visit(page, "/?page=999")
    expect(page.get_by_text("No posts on this page.")).to_be_visible()
    visit(page, "/posts/not-a-post")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def jobs(page: Page, shots: Path, tmp_path: Path) -> None:
    """A demo job to 100 %, another cancelled mid-way, an export downloaded and imported."""
    page.get_by_role("link", name="Jobs", exact=True).click()
    settled(page)
    check_accessibility(page, "/jobs")

    demo = "Demo (counts steps)"
    quick = start_job(page, demo, Seconds="3", Steps="6")
    expect(quick.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100", timeout=JOB_TIMEOUT_MS
    )
    expect(quick.get_by_text("Finished").first).to_be_visible()

    slow = start_job(page, demo, Seconds="20", Steps="10")
    bar = slow.get_by_role("progressbar")
    page.wait_for_function(
        "bar => Number(bar.getAttribute('aria-valuenow')) >= 40",
        arg=bar.element_handle(),
        timeout=JOB_TIMEOUT_MS,
    )
    shoot(page, shots, "web-jobs")
    slow.get_by_role("button", name="Cancel").click()
    expect(slow.get_by_text("Canceled").first).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(slow.get_by_role("button", name="Cancel")).to_have_count(0)
    assert int(bar.get_attribute("aria-valuenow") or 0) < 100

    export = start_job(page, "Export my posts")
    download_link = export.get_by_role("link", name="Download")
    expect(download_link).to_be_visible(timeout=JOB_TIMEOUT_MS)
    with page.expect_download() as caught:
        download_link.click()
    saved = tmp_path / "export.zip"
    caught.value.save_as(saved)
    assert zipfile.is_zipfile(saved)
    with zipfile.ZipFile(saved) as archive:
        exported = json.loads(archive.read("posts.json"))["posts"]
        names = archive.namelist()
    harbour = next(item for item in exported if item["title"] == "Harbour at dawn")
    assert harbour["images"] and harbour["images"][0] in names

    page.get_by_label("Job type").select_option(label="Import posts")
    page.get_by_label("Upload a file to import").set_input_files(str(saved))
    expect(page.get_by_label("Upload a file to import")).to_be_enabled()
    expect(page.get_by_label("File to import", exact=True)).to_have_value(re.compile(".+"))
    before = page.get_by_role("progressbar", name="Progress of Import posts").count()
    page.get_by_role("button", name="Start").click()
    imported = page.get_by_role("listitem").filter(
        has=page.get_by_role("progressbar", name="Progress of Import posts")
    )
    expect(imported).to_have_count(before + 1)
    summary = re.compile(r"^Imported \d+, skipped \d+, failed 0\.")
    expect(imported.first.get_by_text(summary)).to_be_visible(timeout=JOB_TIMEOUT_MS)


def admin_demotes(admin: Page, person: Page, username: str, shots: Path) -> None:
    """Promoted, the person acts as admin; demoted, their next admin action is refused."""
    admin.get_by_role("link", name="Users", exact=True).click()
    settled(admin)
    expect(admin.get_by_role("table")).to_be_visible()
    check_accessibility(admin, "/admin/users")
    row = admin.get_by_role("row").filter(has_text=username)
    row.get_by_role("checkbox", name="Admin").check()
    expect(row.get_by_role("checkbox", name="Admin")).to_be_checked()

    # A reload of /admin/users is the SPA's page, not a server 404.
    visit(person, "/admin/users")
    expect(person.get_by_role("table")).to_be_visible()
    target = person.get_by_role("row").filter(has_text="bystander")
    expect(target.get_by_role("checkbox", name="Active")).to_be_checked()

    row.get_by_role("checkbox", name="Admin").uncheck()
    expect(row.get_by_role("checkbox", name="Admin")).not_to_be_checked()
    admin.reload()
    settled(admin)
    expect(row.get_by_role("checkbox", name="Admin")).not_to_be_checked()
    shoot(admin, shots, "web-admin-users")

    target.get_by_role("checkbox", name="Active").click()
    expect(target.get_by_role("alert")).to_contain_text("admin")
    expect(target.get_by_role("checkbox", name="Active")).to_be_checked()
    admin.reload()
    settled(admin)
    bystander = admin.get_by_role("row").filter(has_text="bystander")
    expect(bystander.get_by_role("checkbox", name="Active")).to_be_checked()


def job_dashboard(admin: Page, shots: Path) -> None:
    """The admin's link opens rq-dashboard with its tables filled in."""
    admin.get_by_role("link", name="Job dashboard").click()
    admin.wait_for_url(re.compile(r"/admin/rq/"))
    expect(admin.get_by_role("table").first).to_be_visible()
    expect(admin.get_by_text("Loading...")).to_have_count(0, timeout=15_000)
    expect(admin.get_by_role("cell", name="default").first).to_be_visible()
    shoot(admin, shots, "web-job-dashboard")


def account(page: Page, shots: Path) -> None:
    page.get_by_role("link", name=re.compile("^journey")).click()
    settled(page)
    for label in ("Current password", "New password"):
        expect(page.get_by_label(label).first).to_be_visible()
    for heading in ("Change password", "Change email", "Delete account"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    check_accessibility(page, "/account")
    shoot(page, shots, "web-account")


def german_then_sign_out(page: Page) -> None:
    visit(page, "/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("combobox", name="Language").select_option("de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Beiträge")).to_be_visible()
    expect(page.get_by_role("link", name="Neuer Beitrag")).to_be_visible()
    expect(page.get_by_role("combobox", name="Sprache")).to_be_visible()
    check_accessibility(page, "/ (de)")
    # The worker's progress messages, stored in English, read in German on the page.
    page.get_by_role("link", name="Aufträge", exact=True).click()
    settled(page)
    expect(page.get_by_text("Schritt 6 von 6").first).to_be_visible()
    expect(page.get_by_text("Step 6 of 6")).to_have_count(0)
    # And why a job failed.
    page.get_by_label("Auftragsart").select_option(label="Demo (zählt Schritte)")
    for label, value in (("Sekunden", "1"), ("Schritte", "2"), ("Fehler bei Schritt", "1")):
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Starten").click()
    demo = page.get_by_role("progressbar", name="Fortschritt: Demo (zählt Schritte)")
    failing = page.get_by_role("listitem").filter(has=demo).first
    expect(failing.get_by_text("Wie gewünscht bei Schritt 1 von 2 fehlgeschlagen.")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("link", name="Anmelden")).to_be_visible()
    expect(page.get_by_role("link", name="Neuer Beitrag")).to_have_count(0)


def test_the_journey(
    stack: LiveStack, new_context: Any, screenshot_dir: Path, tmp_path: Path
) -> None:
    username = "journey"
    person = new_context().new_page()
    admin = new_context().new_page()
    errors: list[str] = []
    for page in (person, admin):
        page.on("pageerror", lambda error: errors.append(str(error)))
    # The account the demoted person will try to switch off.
    bystander = admin.context.request.post(
        "/api/v1/auth/register",
        data={"username": "bystander", "email": "bystander@example.com", "password": PASSWORD},
    )
    assert bystander.status == 201, bystander.text()

    try:
        sign_up_and_confirm(person, username)
        sign_out(person)
        public_pages(person)
        sign_in(person, username, PASSWORD)
        post_id = post_with_a_picture(person, screenshot_dir)
        thumbnail_in_the_feed_signed_out(person, post_id, screenshot_dir)
        sign_in(person, username, PASSWORD)
        jobs(person, screenshot_dir, tmp_path)
        account(person, screenshot_dir)
        sign_in(admin, stack.admin_username, stack.admin_password)
        admin_demotes(admin, person, username, screenshot_dir)
        job_dashboard(admin, screenshot_dir)
        german_then_sign_out(person)
    except Exception as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from exc
    assert not errors, f"Uncaught errors in the page: {errors}"
