"""django-csp's middleware with the policy header built once while the settings stand.

django-csp builds the header from the settings on every response (a dataclass copy and a
walk of every directive, twice: enforced and report-only): 7% of an annotation-loop request's
CPU (issue 13). The header only varies with a nonce or a view's own policy (csp_update,
csp_replace, csp_exempt ...); those responses still take django-csp's own path.
"""

from __future__ import annotations

from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")
_KINDS = (
    (HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt", False),
    (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro", True),
)
_built: dict[str, tuple[str, tuple[str, ...]]] = {}


def _policy(setting: str, report_only: bool) -> tuple[str, tuple[str, ...]]:
    """Return the header value and the excluded URL prefixes for one policy setting (cached)."""
    if setting not in _built:
        prefixes = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ())
        _built[setting] = (build_policy(report_only=report_only), prefixes)
    return _built[setting]


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    _built.pop(setting, None)


class CSPMiddleware(BaseCSPMiddleware):
    """Set the Content-Security-Policy headers as django-csp does, from a cached header where possible."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(hasattr(response, name) for name in _PER_RESPONSE):
            return super().process_response(request, response)
        if response.status_code in (404, 500) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        for header, setting, exempt, report_only in _KINDS:
            policy, prefixes = _policy(setting, report_only)
            excluded = bool(prefixes) and request.path_info.startswith(prefixes)
            if policy and header not in response and getattr(response, exempt, False) is False and not excluded:
                response[header] = policy
        # As django-csp: a nonce asked for after the header was written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
