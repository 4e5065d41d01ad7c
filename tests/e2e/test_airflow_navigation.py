"""The way in a programme manager takes: Airflow's login form, then "Statutory clock" in
Airflow's navigation, which shows the portfolio inside Airflow's own page (an iframe)."""

from __future__ import annotations

import re

from tests.e2e.conftest import PREFIX, Product, open_cases, screenshot


def test_login_form_then_nav_entry_shows_the_portfolio_inside_airflow(
    anonymous_page, product: Product, register
) -> None:
    page = anonymous_page
    page.goto("/")
    # Not logged in: Airflow sends the browser to the simple auth manager's login form.
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill("pm")
    page.get_by_label("Password").fill(product.passwords["pm"])
    screenshot(page, "airflow-login")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/" not in url)
    assert any(c["name"] == "_token" for c in page.context.cookies()), "no Airflow session"

    # The nav entry the plugin's external_views adds. Airflow 3.3 lists plugin entries with
    # destination "nav" in its side navigation (under "Plugins" when there are several).
    # The nav entry the plugin's external_views adds (destination "nav", url_route "statclock").
    entry = page.get_by_role("link", name="Statutory clock")
    entry.wait_for()
    assert entry.get_attribute("href") == "/plugin/statclock"
    screenshot(page, "airflow-home")
    entry.click()
    page.wait_for_url(re.compile(r"/plugin/statclock$"))

    frame_element = page.locator(f"iframe[src*='{PREFIX}/']")
    frame_element.wait_for()
    frame = frame_element.content_frame
    # The portfolio page, rendered by the plugin, authenticated by the same _token cookie:
    # every open council of the register, each linking to its own page.
    for row in open_cases(register):
        link = frame.get_by_role("link", name=row.authority, exact=True)
        link.wait_for()
        assert link.get_attribute("href").endswith(f"/councils/{row.key}")
    screenshot(page, "airflow-nav-statutory-clock")
