"""Sign-in limiting that holds under concurrency: an attempt is paid for before its password is checked.

A limiter that checks a count and increments it after the password check (as django-axes and
the old cache counter do) lets N simultaneous guesses through, because all N read the count
before any writes it. Here each attempt first takes one unit of its key's budget with a single
conditional UPDATE (`attempts < limit`), which both SQLite and PostgreSQL apply atomically; an
attempt that finds no budget left is refused without looking at the password. So at most
`limit` passwords per key are ever evaluated per window, whatever the number of processes.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import LoginThrottle


@dataclass(frozen=True)
class Lockout:
    """Sign-in refused for `retry_after_s` more seconds."""

    retry_after_s: int

    @property
    def message(self) -> str:
        minutes = math.ceil(self.retry_after_s / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}" if self.retry_after_s > 60 else f"{self.retry_after_s} seconds"
        return f"Too many failed sign-in attempts. Sign-in is locked for this account from your address; try again in {wait}."


def _networks(values: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(settings.LOGIN_TRUSTED_PROXIES))


def client_address(request: HttpRequest) -> str:
    """Return the client's address: REMOTE_ADDR, or behind a trusted proxy the last untrusted X-Forwarded-For hop."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not _trusted(remote):
        return remote  # anyone can write X-Forwarded-For: believe it only from our own proxies
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop[:64]
    return remote


def _keys(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    address = client_address(request)
    name = username.strip().lower()[:150]
    return [(f"pair:{address}:{name}", settings.LOGIN_RATE_LIMIT), (f"addr:{address}", settings.LOGIN_ADDRESS_RATE_LIMIT)]


def _take(key: str, limit: int) -> int | None:
    """Take one attempt from the key's budget; return the seconds until it refills when none is left."""
    now, window = timezone.now(), timedelta(seconds=settings.LOGIN_RATE_WINDOW_S)
    LoginThrottle.objects.bulk_create([LoginThrottle(key=key, window_start=now)], ignore_conflicts=True)
    LoginThrottle.objects.filter(key=key, window_start__lte=now - window).update(attempts=0, window_start=now)
    if LoginThrottle.objects.filter(key=key, attempts__lt=limit).update(attempts=F("attempts") + 1):
        return None
    start = LoginThrottle.objects.filter(key=key).values_list("window_start", flat=True).first() or now
    return max(1, math.ceil((start + window - now).total_seconds()))


def login_attempt_reserve(*, request: HttpRequest, username: str) -> Lockout | None:
    """Pay for one sign-in attempt before checking its password; return a Lockout when it must be refused.

    Call before authenticate(); call login_attempt_succeeded() after a successful one.
    """
    for key, limit in _keys(request, username):
        wait = _take(key, limit)
        if wait is not None:
            return Lockout(retry_after_s=wait)
    return None


def login_attempt_succeeded(*, request: HttpRequest, username: str) -> None:
    """Give this username at this address its full budget back (the per-address count stays)."""
    pair_key = _keys(request, username)[0][0]
    LoginThrottle.objects.filter(key=pair_key).delete()
