"""Untrusted markdown renders inert: no scripts, handlers, htmx attributes, odd links or images."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from labeling.rendering import render_markdown
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user

XSS = [
    "<script>alert('s1')</script>",
    "<img src=x onerror=\"alert('s2')\">",
    "[click me](javascript:alert('s3'))",
    "[click me](JaVaScRiPt:alert('s4'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pic](https://evil.example/track.png)",
    "![pic](javascript:alert('s5'))",
    '<a href="/logout/" hx-post="/logout/" hx-trigger="load">x</a>',
    '<div hx-get="/admin/" hx-trigger="load" hx-swap="outerHTML">y</div>',
    "<svg onload=alert('s6')></svg>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<p style="position:fixed;top:0">cover</p>',
    "```html\n<script>alert('s7')</script>\n```",
    "```\"><img src=x onerror=alert('s8')>\ncode\n```",
    "[ref][1]\n\n[1]: javascript:alert('s9')",
    "<a href='https://ok.example' onclick='alert(1)'>ok</a>",
    "<!-- <script>alert('s10')</script> -->",
    "<form action=/logout/ method=post><button>go</button></form>",
]
ALLOWED_LINK = ("http://", "https://", "mailto:")


class _Collector(HTMLParser):
    """Collect (tag, attrs) of every element inside an element whose class list has `md`."""

    VOID = {
        "br",
        "hr",
        "img",
        "input",
        "meta",
        "link",
        "source",
        "wbr",
        "area",
        "base",
        "col",
        "embed",
        "param",
        "track",
    }

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # >0 while inside rendered markdown
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.depth:
            self.found.append((tag, attributes))
            if tag not in self.VOID:
                self.depth += 1
        elif "md" in (attributes.get("class") or "").split() and tag not in self.VOID:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag not in self.VOID:
            self.depth -= 1


def rendered_elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.found


def assert_inert(elements: list[tuple[str, dict[str, str | None]]]) -> None:
    for tag, attrs in elements:
        assert tag not in {"script", "img", "iframe", "svg", "style", "form", "button", "input", "object", "embed"}, tag
        for name, value in attrs.items():
            assert not name.startswith("on") and not name.startswith("hx-") and name != "style", (tag, name)
            if name == "href":
                assert (value or "").startswith(ALLOWED_LINK), value
        if tag == "a" and "href" in attrs:
            assert {"noopener", "nofollow"} <= set(attrs["rel"].split())


@pytest.mark.parametrize("payload", XSS)
def test_payload_renders_inert(payload):
    html = str(render_markdown(payload))
    assert_inert(rendered_elements(f'<div class="md">{html}</div>'))


def test_raw_html_is_shown_as_text_not_markup():
    html = str(render_markdown("<b>bold?</b> <script>alert(1)</script>"))
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "&lt;script&gt;" in html


def test_markdown_and_code_are_rendered_and_highlighted():
    html = str(
        render_markdown("# Title\n\n**bold** [site](https://example.com)\n\n```python\ndef f():\n    return 1\n```")
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com" target="_blank" rel="noopener nofollow noreferrer">site</a>' in html
    assert '<pre class="highlight"><code><span class="k">def</span>' in html


def test_images_become_their_alt_text():
    assert str(render_markdown("![a cat](https://example.com/cat.png)")) == "<p>[image: a cat]</p>\n"


def test_huge_text_is_escaped_plain_text():
    html = str(render_markdown("<script>x</script>" + "a" * 300_000))
    assert html.startswith('<pre class="plain">&lt;script&gt;')


@pytest.mark.django_db
def test_xss_corpus_in_prompts_responses_and_instructions_is_inert_on_the_page(client):
    payload = "\n\n".join(XSS)
    project = make_project(k=2, instructions=payload)
    prompt = make_prompt(project, payload)
    prompt.messages = [{"role": "system", "content": payload}, {"role": "user", "content": payload}]
    prompt.save()
    make_comparison(project, prompt=prompt, texts=[payload, payload + "\n\nsecond"])
    user = make_user("victim")
    add_member(project, user)
    client.force_login(user)
    for url in (
        reverse("labeling:comparison-rank", args=[project.pk]),
        reverse("labeling:project-detail", args=[project.pk]),
    ):
        html = client.get(url).content.decode()
        elements = rendered_elements(html)
        assert len(elements) > 10  # the markdown regions were found and parsed
        assert_inert(elements)
        assert "<script>alert" not in html and "<img" not in html and "<iframe" not in html
        assert "&lt;script&gt;alert('s1')&lt;/script&gt;" in html  # shown as text
