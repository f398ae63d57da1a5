"""Signing in a browser page, for every end-to-end test: the one way they all do it."""


def signed_in(browser, live_server, username: str, *, locale: str = "en-GB",
              width: int = 1366, height: int = 900, code: str | None = None):
    """A page in a new browser context (its own cookies, downloads accepted) signed in as
    `username`, whose password is `<username>-test-pass` (tests.factories); `code`: the
    two-step code, when the account has a device."""
    context = browser.new_context(locale=locale, accept_downloads=True,
                                  viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-test-pass")
    page.click("main button[type=submit]")
    if code:
        page.fill("#id_code", code)
        page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page
