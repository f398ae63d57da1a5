"""At phone width (390 px) every value stays visible: nothing runs off the page (long hashes
wrap), wide tables scroll inside their own box, the copy buttons copy. Every page of the
Japanese walk (tests/test_i18n.py), as each role, in headless Chromium."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.e2e.test_the_whole_story import open_as
from tests.test_i18n import pages, story  # noqa: F401  (the walk's world and its pages)

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path(settings.BASE_DIR) / "var" / "e2e-screenshots-phone"

# Elements wider than the screen, outside a box that scrolls sideways on purpose.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const el of document.querySelectorAll("main *, footer *, nav *")) {
    const away = ".table-responsive, .navbar-collapse:not(.show), [hidden], details:not([open])";
    if (el.closest(away)) continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      found.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " "
                 + (el.textContent || "").trim().slice(0, 40));
    }
  }
  return {pageWidth: document.documentElement.scrollWidth, width, found: found.slice(0, 5)};
}"""


def test_every_page_keeps_every_value_on_a_phone(browser, live_server, story):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    phones, problems = {}, {}
    for n, (user, url) in enumerate(pages(story), start=1):
        if user not in phones:
            phones[user] = open_as(browser, live_server, user, phone=True)
        phone = phones[user]
        phone.goto(f"{live_server.url}{url}")
        for details in phone.locator("details").all()[:3]:  # audit payloads, opened
            details.evaluate("d => d.open = true")
        result = phone.evaluate(OVERFLOWING)
        name = url.strip("/").replace("/", "_") or "home"
        phone.screenshot(path=str(SHOTS / f"{n:02d}-{user}-{name}.png"), full_page=True)
        if result["pageWidth"] > result["width"] or result["found"]:
            problems[f"{user} {url}"] = result
    assert problems == {}
    # The check itself: a value that cannot wrap is found.
    phone.evaluate("""document.querySelector("main").insertAdjacentHTML("beforeend",
        '<span class="text-nowrap">' + "0123456789abcdef".repeat(8) + "</span>")""")
    assert phone.evaluate(OVERFLOWING)["found"]


def test_the_copy_button_copies_the_content_hash(browser, live_server, story):  # noqa: F811
    phone = open_as(browser, live_server, "sam", phone=True)
    phone.context.grant_permissions(["clipboard-read", "clipboard-write"])
    review = story["review"]
    review.refresh_from_db()
    phone.goto(f"{live_server.url}/campaigns/{review.pk}/")
    button = phone.locator(f'[data-copy="{review.content_hash}"]')
    button.click()
    phone.wait_for_function("b => b.textContent === 'コピーしました'", arg=button.element_handle())
    assert phone.evaluate("navigator.clipboard.readText()") == review.content_hash
