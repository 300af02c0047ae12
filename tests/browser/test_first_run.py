"""What a newcomer meets in `make run`: the ready summary, the demo-model note, the guide."""

from playwright.sync_api import Browser, Page, expect

from tests.support.browser import runtime_config, screenshot
from tests.support.processes import ServerProcess


def test_the_terminal_says_ready_with_the_url_the_model_and_how_to_switch(
    model_stack: ServerProcess,
) -> None:
    log = model_stack.log
    assert f"simplechat is ready: open {model_stack.url}" in log
    assert "SmolLM2-135M-Instruct" in log and "bundled demo model" in log
    assert "switch: make run MODEL=NAME, or ARGS=" in log and '"Run another model"' in log
    assert "Japanese: make run MODEL=tinyswallow-1.5b" in log


def test_the_config_names_the_bundled_model_as_the_demo(model_stack: ServerProcess) -> None:
    model = runtime_config(model_stack)["model"]
    assert model["demo"] is True
    assert model["name"].startswith("SmolLM2-135M-Instruct")


def test_another_model_gets_no_demo_note(page: Page, fake_stack: ServerProcess) -> None:
    assert runtime_config(fake_stack)["model"]["demo"] is False
    page.goto(fake_stack.url)
    expect(page.locator("#input")).to_be_visible()
    expect(page.locator("#demo-note")).to_be_hidden()


def test_the_demo_note_links_to_the_guide_and_stays_dismissed(
    page: Page, model_stack: ServerProcess
) -> None:
    page.goto(model_stack.url)
    note = page.locator("#demo-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("tiny and English-only")
    expect(page.locator("#demo-note-command")).to_have_text("make run MODEL=tinyswallow-1.5b")
    expect(page.locator("#demo-note-size")).to_have_text("(1.1 GB)")
    screenshot(page, "first-run-demo-note")
    page.click("#demo-note-link")
    heading = page.locator("#guide h2#run-another-model")
    expect(heading).to_have_text("Run another model")
    expect(page.locator("#guide")).to_contain_text("--model")
    page.go_back()
    page.click("#demo-note-close")
    expect(note).to_be_hidden()
    page.reload()
    expect(page.locator("#input")).to_be_visible()
    expect(note).to_be_hidden()  # dismissed once, for good in this browser


def test_the_japanese_note_links_to_the_japanese_guide(
    browser: Browser, model_stack: ServerProcess
) -> None:
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(model_stack.url)
    expect(page.locator("#demo-note")).to_contain_text("英語専用")
    page.click("#demo-note-link")
    expect(page.locator("#guide h2", has_text="別のモデルを使う")).to_be_in_viewport()
    context.close()


def test_a_page_load_has_no_failed_requests_favicon_included(
    page: Page, model_stack: ServerProcess
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(model_stack.url)
    expect(page.locator("#input")).to_be_visible()
    page.wait_for_load_state("networkidle")
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).status == 200
    assert failed == [] and errors == []


def test_the_guide_shows_the_readmes_images_and_opens_its_docs_pages(
    page: Page, model_stack: ServerProcess
) -> None:
    page.goto(f"{model_stack.url}/guide.html?lang=en")
    image = page.locator('#guide img[src="guide/docs/images/chat-en.png"]')
    expect(image).to_be_visible()
    assert page.evaluate("document.querySelector('#guide img').naturalWidth") > 0
    page.click('#guide a[href="guide.html?lang=en&page=docs%2Fsettings.md"]')
    expect(page.locator("#guide h1")).to_have_text("Server settings and safety")
    # A docs page's own relative links resolve from docs/: its Japanese twin, then back.
    page.click('#guide a[href="guide.html?lang=en&page=docs%2Fsettings.ja.md"]')
    expect(page.locator("#guide h1")).to_have_text("サーバーの設定と安全")
