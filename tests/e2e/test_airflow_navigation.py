"""The way in a programme manager takes: Airflow's login form, then "Statutory clock" in
Airflow's navigation, which shows the portfolio inside Airflow's own page (an iframe)."""

from __future__ import annotations

import re

from tests.e2e.conftest import PREFIX, Product, open_cases, screenshot


def test_login_form_then_nav_entry_shows_the_portfolio_inside_airflow(
    anonymous_page, product: Product, register
) -> None:
    page = anonymous_page
    page.goto("/", wait_until="commit")
    # Not logged in: Airflow's app sends the browser on to the simple auth manager's login
    # form (a client-side redirect, so wait for the form rather than for a page load).
    username = page.get_by_label("Username")
    username.wait_for()
    assert "/auth/login" in page.url, page.url
    username.fill("pm")
    page.get_by_label("Password").fill(product.passwords["pm"])
    screenshot(page, "airflow-login")
    page.get_by_role("button", name="Sign in").click()
    # The nav entry the plugin's external_views adds (destination "nav", url_route "statclock").
    entry = page.get_by_role("link", name="Statutory clock")
    entry.wait_for()
    assert "/auth/" not in page.url, page.url
    assert any(c["name"] == "_token" for c in page.context.cookies()), "no Airflow session"

    # Airflow 3.3 routes a plugin's external view with a url_route to /plugin/<url_route>,
    # which shows the view's href in an iframe.
    assert entry.get_attribute("href") == "/plugin/statclock"
    screenshot(page, "airflow-home")
    entry.click()
    page.wait_for_url(re.compile(r"/plugin/statclock$"), wait_until="commit")

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
