"""Render untrusted markdown (instructions, prompts, model responses) to safe HTML.

Two layers: markdown-it with raw HTML off turns `<script>` into text, and nh3 then keeps only
an allowlist of tags and attributes (no `on*`, `hx-*`, `style`, `id`), links only to http(s)
and mailto with rel="noopener nofollow noreferrer", and no images: an image becomes its alt
text, so model output cannot make the annotator's browser fetch anything.

Single newlines are kept (`breaks`): annotators judge poems, letters and addresses by their
form, and CommonMark would otherwise join a haiku's three lines into one.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

MAX_RENDER_CHARS = 200_000  # beyond this, show plain escaped text: markdown of megabytes stalls a request

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "div": {"class"},
    "ol": {"start"},
    "pre": {"class"},
    "span": {"class"},
}
LINK_SCHEMES = ("http://", "https://", "mailto:")
# Classes come only from pygments (short token names) and markdown-it fences ("language-x"),
# so a response cannot borrow the app's own classes to look like a button or a message.
_CLASS_RE = re.compile(r"^(?:highlight|language-[A-Za-z0-9_+#.-]{1,40}|[a-z]{1,3}[0-9]?)$")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "href":
        return value if value.strip().lower().startswith(LINK_SCHEMES) else None
    if attr == "class":
        kept = [c for c in value.split() if _CLASS_RE.match(c)]
        return " ".join(kept) or None
    if attr == "start":
        return value if value.isdigit() and len(value) < 7 else None
    return value


_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags={"script", "style"},
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    link_rel="noopener nofollow noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """Highlight a fenced code block with pygments; fall back to markdown-it's escaped block."""
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang.strip().split()[0][:40])
    except ClassNotFound:
        return ""
    # markdown-it keeps a result that starts with <pre> as is; classes match static/css/pygments.css.
    body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="highlight"><code>{body}</code></pre>\n'


def _image_as_text(self, tokens: list[Token], idx: int, options, env) -> str:  # type: ignore[no-untyped-def]
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return escapeHtml(f"[image: {alt}]" if alt else "[image]")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False, "typographer": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_text)
    return md


def sanitize_html(html: str) -> str:
    """Keep only the allowlisted tags and attributes of an HTML fragment."""
    return _cleaner.clean(html)


def render_markdown(text: object) -> SafeString:
    """Render untrusted markdown to sanitized HTML that is safe to put in a page."""
    source = "" if text is None else str(text)
    if len(source) > MAX_RENDER_CHARS:
        from django.utils.html import escape

        return mark_safe(f'<pre class="plain">{escape(source)}</pre>')  # noqa: S308 - escaped above
    return mark_safe(sanitize_html(_markdown().render(source)))  # noqa: S308 - nh3 allowlist
