"""Mistakes in the web app: the message lands beside the field, or says what the server said."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.stack import MAX_UPLOAD_BYTES, LiveStack

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def field_error(page: Page, label: str) -> Locator:
    """The error text tied to the field (``aria-describedby``); the field is marked invalid."""
    field = page.get_by_label(label, exact=True)
    expect(field).to_have_attribute("aria-invalid", "true")
    described = (field.get_attribute("aria-describedby") or "").split()
    errors = [name for name in described if name.endswith("-error")]
    assert errors, f"{label} names no error in aria-describedby ({described})"
    return page.locator(f"#{errors[0]}")


def test_sign_up_mistakes_show_beside_the_field(stack: LiveStack, new_context: Any) -> None:
    page = new_context().new_page()
    page.goto("/register")
    page.get_by_label("Username").fill("shorty")
    page.get_by_label("Email").fill("shorty@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(field_error(page, "Password")).to_have_text("8 to 128 characters.")
    expect(page.get_by_label("Password")).to_be_focused()
    # The rule is said once (the error takes the hint's place), and once the password is
    # corrected the message about the old one goes, before the next submit.
    expect(page.get_by_text("8 to 128 characters.")).to_have_count(1)
    page.get_by_label("Password").fill("long enough password")
    expect(page.get_by_label("Password")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("8 to 128 characters.")).to_have_class("hint")

    # The server's answer for a taken name, in the language picked.
    page.get_by_label("Username").fill(stack.admin_username)
    page.get_by_role("button", name="Sign up").click()
    expect(field_error(page, "Username")).to_have_text("That username is already taken.")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    page.get_by_role("combobox", name="Language").select_option("de")
    page.get_by_role("button", name="Registrieren").click()
    taken = "Dieser Benutzername ist bereits vergeben."
    expect(field_error(page, "Benutzername")).to_have_text(taken)


def test_upload_refusals_show_the_servers_message(stack: LiveStack, new_context: Any) -> None:
    page = new_context().new_page()
    page.goto("/login")
    page.get_by_label("Username or email").fill(stack.admin_username)
    page.get_by_label("Password", exact=True).fill(stack.admin_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_role("link", name="New post").click()
    image = page.get_by_label("Image")

    image.set_input_files(
        {"name": "huge.png", "mimeType": "image/png", "buffer": os.urandom(MAX_UPLOAD_BYTES + 1)}
    )
    expect(page.get_by_role("alert")).to_have_text(
        f"The file is larger than the limit of {MAX_UPLOAD_BYTES} bytes."
    )

    image.set_input_files(
        {"name": "page.html", "mimeType": "text/html", "buffer": b"<p>Not a picture.</p>\n"}
    )
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Files of this type are not allowed; allowed: .+\.$")
    )

    image.set_input_files(
        {"name": "fake.png", "mimeType": "image/png", "buffer": b"Only claims to be a PNG.\n"}
    )
    expect(page.get_by_role("alert")).to_have_text("The content is not a valid image/png file.")
    expect(page.get_by_role("list", name="Attached images")).to_have_count(0)
