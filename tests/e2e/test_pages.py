"""The pages people meet, in a real browser: keyboard use, focus, contrast, titles, language, branding."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .flows import APP_SUCCESS, SANDBOX_PAGE, open_link

# WCAG contrast of every text element's colour against the background it sits on.
CONTRAST_JS = """
() => {
  const parse = c => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('h1, p, a, span, dt, dd, code, label, button, legend')) {
    if (!el.textContent.trim() || !el.getClientRects().length) continue;
    const [a, b] = [lum(parse(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({text: el.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100});
  }
  return out;
}
"""

# Controls without an accessible name: inputs without a label, links and buttons without text.
UNLABELLED_JS = """
() => [...document.querySelectorAll('a, button, input, select, textarea')].filter(el => {
  if (el.type === 'hidden') return false;
  const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title;
  const labelled = el.labels && el.labels.length;
  return !(named || labelled || el.textContent.trim());
}).map(el => el.outerHTML.slice(0, 80))
"""


def assert_accessible(page: Page) -> None:
    """A title, a language, one h1, named controls, and text readable at 4.5:1."""
    assert page.title().strip(), "the page has no title"
    assert page.locator("html").get_attribute("lang"), "the page does not say its language"
    expect(page.locator("h1")).to_have_count(1)
    assert page.evaluate(UNLABELLED_JS) == []
    low = [item for item in page.evaluate(CONTRAST_JS) if item["ratio"] < 4.5]
    assert low == [], f"text below 4.5:1 contrast: {low}"


def test_keyboard_alone_links_an_account_with_visible_focus(service, page, shot, app_stand_in):
    created = open_link(page, service, app_stand_in, shot)
    assert_accessible(page)
    focused = None
    for _ in range(10):  # Tab from the top of the page to the Google button
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.dataset.provider || null")
        if focused == "google":
            break
    assert focused == "google", "Tab never reached the Google button"
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert outline[0] != "none" and outline[1] >= 2, f"no visible focus ring: {outline}"
    shot(page, "link-page-focused")
    page.keyboard.press("Enter")
    page.wait_for_url(SANDBOX_PAGE)
    shot(page, "google-consent")
    page.get_by_role("button", name="Allow access").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(APP_SUCCESS)
    shot(page, "app-success")
    assert service.session(created["id"])["status"] == "linked"


def test_every_page_of_ours_has_a_distinct_title(service, page, shot, app_stand_in):
    open_link(page, service, app_stand_in, shot)
    link_title = page.title()
    page.goto(f"{service.url}/oauth/google/callback?state=forged&code=whatever")
    shot(page, "error-page")
    assert_accessible(page)
    expect(page.locator("[data-error]")).to_have_attribute("data-error", "state_invalid")
    assert page.title() != link_title
    assert "Acme Calendar" in page.title() and "Acme Calendar" in link_title


@pytest.mark.locale("fr-FR")
def test_pages_speak_the_browsers_language(service, page, shot, app_stand_in):
    open_link(page, service, app_stand_in, shot)
    assert page.locator("html").get_attribute("lang") == "fr"
    expect(page.locator("h1")).to_have_text("Associez votre agenda à Acme Calendar")
    expect(page.locator('[data-provider="google"]')).to_have_text("Se connecter avec Google")
    expect(page.locator('[data-provider="microsoft"]')).to_have_text("Se connecter avec Microsoft")

    page.goto(f"{service.url}/link/not-a-real-link")
    shot(page, "not-found-fr")
    expect(page.locator("h1")).to_have_text("Page introuvable")
    expect(page.locator(".code")).to_contain_text("Code d'erreur")


LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
    '<rect width="32" height="32" rx="6" fill="#0f766e"/></svg>'
)


def test_branding_comes_from_configuration(make_service, context, page, shot, app_stand_in):
    service = make_service(
        APP_NAME="Tidewater",
        APP_LOGO_URL="https://cdn.example.com/logo.svg",
        APP_ACCENT_COLOR="#facc15",  # a light yellow: button text must turn dark to stay readable
        SUPPORT_URL="https://tidewater.example/help",
        PRIVACY_URL="https://tidewater.example/privacy",
    )
    context.route(
        "https://cdn.example.com/**",
        lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=LOGO),
    )
    open_link(page, service, app_stand_in, shot)
    expect(page.locator(".app-name")).to_have_text("Tidewater")
    expect(page.locator("img.logo")).to_have_attribute("src", "https://cdn.example.com/logo.svg")
    assert page.evaluate("document.querySelector('img.logo').naturalWidth") == 32
    expect(page.get_by_role("link", name="Help")).to_have_attribute("href", "https://tidewater.example/help")
    expect(page.get_by_role("link", name="Privacy policy")).to_have_attribute(
        "href", "https://tidewater.example/privacy"
    )
    border = page.evaluate("getComputedStyle(document.querySelector('.card')).borderTopColor")
    assert border == "rgb(250, 204, 21)"
    assert_accessible(page)  # links fall back to the text colour when the accent is too light

    # The error page is branded and readable too.
    page.goto(f"{service.url}/oauth/google/callback?state=forged")
    shot(page, "branded-error-page")
    assert_accessible(page)
