"""Login forms of /login/ and /admin/login/, both behind the sign-in limit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts.services import Lockout, login_attempt_reserve, login_attempt_succeeded


class LoginLimitMixin:
    """Pay for the attempt before the password is checked; refuse with the lockout message when over the limit."""

    lockout: Lockout | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")  # type: ignore[attr-defined]
        password = self.cleaned_data.get("password")  # type: ignore[attr-defined]
        if username is None or not password:
            return super().clean()  # type: ignore[misc]
        self.lockout = login_attempt_reserve(request=self.request, username=username)  # type: ignore[attr-defined]
        if self.lockout is not None:
            raise forms.ValidationError(self.lockout.message, code="locked_out")
        cleaned = super().clean()  # type: ignore[misc]
        login_attempt_succeeded(request=self.request, username=username)  # type: ignore[attr-defined]
        return cleaned


class LoginForm(LoginLimitMixin, AuthenticationForm):
    """The app's login form."""


class AdminLoginForm(LoginLimitMixin, AdminAuthenticationForm):
    """The admin's login form (staff only), with the same limit."""
