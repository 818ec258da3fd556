"""The login page: 429 with the lockout message and its duration once the limit is reached."""

from __future__ import annotations

from django.contrib.auth.views import LoginView as DjangoLoginView
from django.http import HttpResponse

from accounts.forms import LoginForm


class LoginView(DjangoLoginView):
    """Log in; too many failures for this username from this address lock it for the rest of the window."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.lockout is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.lockout.retry_after_s)
        return response
