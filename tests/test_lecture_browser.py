"""The decks and the course site in a real browser (headless Chromium driven by Playwright).

Built once per run from the quick edition (``build/executed/quick``, re-used by content
hash), served from 127.0.0.1. Every page must load with no JavaScript error, no failed or
outside request and every image loaded; deck navigation must work; the site's internal links
must all resolve. Marked ``slow`` and ``browser``: skipped when Chromium is not installed, except in CI
(``CI=true``), where a missing browser fails.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from course_lib.lecture import edition, site, slides, vendor

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # builds and serves the quick edition
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic", "--disable-gpu"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Decks and both site editions, from the quick edition (built here if out of date)."""
    chromium_path()
    vendor.install()
    # CI's 2 cores; a cell stuck for 10 minutes fails, as under nbval's --nbval-cell-timeout.
    edition.build("quick", jobs=2, timeout=600, log=lambda line: None)
    out = tmp_path_factory.mktemp("lecture")
    counts = slides.build(out / "slides", modes=("quick",))  # what CI has, whatever is here
    pages = site.build(out / "site", modes=("quick",))
    return out, counts, pages


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(built):
    out = built[0]
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class Watched:
    """A page that records console errors, failed loads and requests that leave 127.0.0.1."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.errors, self.outside = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", lambda r: r.status >= 400 and self.errors.append(
            f"HTTP {r.status} {r.url}"))
        self.page.route("**/*", self.route)

    def route(self, route):
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname != "127.0.0.1":
            self.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return self.page

    def broken_images(self) -> list[str]:
        return self.page.evaluate("""Array.from(document.images)
            .filter(img => !img.complete || img.naturalWidth === 0)
            .map(img => img.src.slice(0, 100))""")

    def assert_clean(self, what: str):
        assert self.outside == [], f"{what}: requests left 127.0.0.1: {self.outside}"
        assert self.errors == [], f"{what}: console errors: {self.errors}"
        assert self.broken_images() == [], f"{what}: images that did not load"

    def close(self):
        self.context.close()


@pytest.fixture
def watched(browser):
    page = Watched(browser)
    yield page
    page.close()


# --- Decks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", edition.chapters(), ids=lambda path: path.stem)
def test_deck_navigates_offline_with_notes(built, served, watched, path):
    out, counts, _ = built
    deck = f"{path.stem}.slides.html"
    assert deck in counts and (out / "slides" / deck).exists(), f"no deck for {path.name}"
    page = watched.open(f"{served}/slides/{deck}")
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15_000)
    assert page.evaluate("Reveal.getTotalSlides()") == counts[deck]
    assert counts[deck] == slides.slide_count(nbformat.read(path, as_version=4))
    assert page.evaluate("Reveal.getIndices().h") == 0
    page.keyboard.press("ArrowRight")
    page.wait_for_function("Reveal.getIndices().h === 1 || Reveal.getIndices().v === 1")
    page.keyboard.press("End")  # the last horizontal slide
    page.wait_for_function("Reveal.getIndices().h === Reveal.getHorizontalSlides().length - 1")
    assert page.locator("aside.notes").count() > 0, "no speaker notes in the deck"
    assert "quick-mode outputs" in page.locator(".course-banner").inner_text()
    images = page.evaluate("Array.from(document.images).map(img => img.alt)")
    assert all(alt.strip() for alt in images), f"{deck}: figures without alt text"
    watched.assert_clean(deck)


def test_speaker_view_shows_the_notes(built, served, watched):
    """Press s on a slide with a notes cell: reveal.js's speaker window shows that text."""
    page = watched.open(f"{served}/slides/{edition.chapters()[1].stem}.slides.html")
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15_000)
    notes = page.locator("aside.notes").first
    expected = " ".join(notes.evaluate("n => n.textContent").split())[:40]
    page.evaluate("n => Reveal.slide(...Object.values(Reveal.getIndices(n.closest('section'))))",
                  notes.element_handle())
    with page.expect_popup() as opened:
        page.keyboard.press("s")
    speaker = opened.value
    speaker.wait_for_selector(".speaker-controls-notes", timeout=15_000)
    speaker.wait_for_function(
        "text => document.querySelector('.speaker-controls-notes').innerText.replace(/\\s+/g, ' ')"
        ".includes(text)", arg=expected, timeout=15_000)
    watched.assert_clean("speaker view")


def test_deck_index_lists_every_deck(built):
    index = (built[0] / "slides" / "index.html").read_text()
    for path in edition.chapters():
        assert f'href="{path.stem}.slides.html"' in index


# --- Site ----------------------------------------------------------------------------------


class Links(HTMLParser):
    """The ids, links and loaded resources of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.resources = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "img", "iframe", "source") and attrs.get("src"):
            self.resources.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.resources.append(attrs["href"])


def parse(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def site_pages(out: Path, which: str) -> list[Path]:
    root = out / "site" / which
    return sorted(path for path in root.rglob("*.html") if "_static" not in path.parts)


@pytest.mark.parametrize("which", site.EDITIONS)
def test_site_has_no_broken_internal_link_and_no_cdn(built, which):
    out = built[0]
    pages, broken, outside = site_pages(out, which), [], []
    parsed = {path: parse(path) for path in pages}
    assert len(pages) > 2 * len(edition.chapters())
    for path, links in parsed.items():
        outside += [f"{path.name}: {src}" for src in links.resources
                    if re.match(r"(https?:)?//", src) and "127.0.0.1" not in src]
        for href in links.links:
            url = urlsplit(href)
            if url.scheme or href.startswith(("mailto:", "//")):
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.name}: {href}")
            elif url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(url.fragment) not in ids:
                    broken.append(f"{path.name}: {href} (no such anchor)")
    assert broken == [], f"broken internal links in the {which} site"
    assert outside == [], f"the {which} site loads from outside: {outside}"


@pytest.mark.parametrize("which", site.EDITIONS)
def test_site_pages_load_clean_in_the_browser(built, served, browser, which):
    out = built[0]
    for path in site_pages(out, which):
        relative = path.relative_to(out).as_posix()
        page = Watched(browser)
        try:
            loaded = page.open(f"{served}/{relative}")
            if relative.endswith(f"chapters/{edition.chapters()[1].stem}.html"):
                assert "quick-mode outputs" in loaded.inner_text("main")
            page.assert_clean(relative)
            unlabelled = loaded.evaluate(
                "Array.from(document.querySelectorAll('main img')).filter(i => !i.alt.trim())"
                ".map(i => i.src.slice(0, 60))")
            assert unlabelled == [], f"{relative}: figures without alt text"
        finally:
            page.close()


def test_site_search_finds_a_chapter(built, served, watched):
    page = watched.open(f"{served}/site/student/search.html?q=perplexity")
    page.wait_for_selector("#search-results li", timeout=15_000)
    assert page.locator("#search-results li").count() > 0
    watched.assert_clean("search")


def test_math_is_typeset_on_the_site(built, served, watched):
    page = watched.open(f"{served}/site/student/chapters/{edition.chapters()[1].stem}.html")
    page.wait_for_selector("mjx-container", timeout=15_000)
    watched.assert_clean("math")


def test_student_site_has_exercises_but_no_solutions_or_guide(built):
    out = built[0]
    student, instructor = out / "site" / "student", out / "site" / "instructor"
    text = "\n".join(path.read_text() for path in site_pages(out, "student"))
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Teaching guide"):
        assert marker not in text
    assert not (student / "guide").exists()
    exercises = sorted(path.stem for path in (student / "exercises").glob("[0-9]*.html"))
    assert exercises == sorted(path.stem for path in (edition.ROOT / "exercises").glob("*.ipynb"))
    guide = sorted(path.name for path in (instructor / "guide").glob("[0-9]*.html"))
    assert guide, "the instructor site has no chapter guide"


# --- JupyterLab: a chapter's widget, live --------------------------------------------------


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over a copy of chapter 02 (autosave never touches git)."""
    import secrets
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    chromium_path()
    root = tmp_path_factory.mktemp("lab")
    chapter = next(path for path in edition.chapters() if path.name.startswith("02_"))
    shutil.copy2(chapter, root / chapter.name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    # Render every cell (JupyterLab 4 leaves off-screen cells out of the page), no news.
    settings = root / ".settings"
    for name, values in {"notebook-extension/tracker": '{"windowingMode": "none"}',
                         "apputils-extension/notification": '{"fetchNews": "false"}'}.items():
        path = settings / f"@jupyterlab/{name.split('/')[0]}" / f"{name.split('/')[1]}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values)
    env = dict(os.environ, COURSE_QUICK="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={settings}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail("JupyterLab did not answer on /api/status within a minute")
    yield base, token, chapter.name
    server.terminate()
    server.wait(timeout=30)


def test_rise_is_installed_for_live_slides():
    import subprocess
    import sys

    listing = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"],
                             capture_output=True, text=True, check=True)
    assert "jupyterlab-rise" in listing.stdout + listing.stderr


def test_widget_redraws_the_figure_in_jupyterlab(jupyterlab, watched):
    base, token, name = jupyterlab
    page = watched.page
    page.goto(f"{base}/lab/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.wait_for_timeout(2_000)
    if page.locator(".jp-Dialog").count():  # "Select Kernel": take the notebook's own
        page.locator(".jp-Dialog .jp-mod-accept").click()
        page.wait_for_selector(".jp-Dialog", state="detached")
    for _ in range(3):  # a click that lands while the kernel starts is sometimes lost
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_selector(".jp-InputPrompt:text-matches('\\[(\\*|1)\\]')",
                                   timeout=20_000)
            break
        except Exception:
            page.keyboard.press("Escape")
    slider = page.locator(".widget-slider", has_text="step")
    try:
        slider.wait_for(timeout=240_000)
    except Exception:
        page.screenshot(path="/tmp/issue18-labfail.png")
        raise
    figure = page.locator(".widget-interact img").first
    figure.wait_for(timeout=60_000)
    before = figure.get_attribute("src")
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    handle.press("Home")  # step 1 of the sentence: the trellis has one column
    page.wait_for_function(
        "before => { const img = document.querySelector('.widget-interact img');"
        " return img && img.src !== before; }", arg=before, timeout=60_000)
    assert slider.locator(".widget-readout").inner_text() == "0"
    assert watched.outside == [], f"JupyterLab asked outside hosts: {watched.outside}"
