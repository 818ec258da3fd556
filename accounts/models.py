"""The sign-in limiter's state: one counter per (client address, username) and per client address."""

from __future__ import annotations

from django.db import models


class LoginThrottle(models.Model):
    """Sign-in attempts taken from one key's budget in the window that began at `window_start`."""

    key = models.CharField(max_length=255, unique=True, help_text="pair:<address>:<username> or addr:<address>")
    attempts = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.attempts}"
