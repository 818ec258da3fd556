"""Login with a failed-attempt limit, logout, and friendly error pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST


def _client_key(request: HttpRequest) -> str:
    username = (request.POST.get("username") or "").strip().lower()[:150]
    return f"login-fail:{request.META.get('REMOTE_ADDR', '?')}:{username}"


class RateLimitedLoginView(LoginView):
    """Refuse further attempts for a while after LOGIN_RATE_LIMIT failures (per client and username)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        key = _client_key(request)
        if cache.get(key, 0) >= settings.LOGIN_RATE_LIMIT:
            minutes = settings.LOGIN_RATE_WINDOW_S // 60
            return render(
                request,
                self.template_name,
                {"form": self.get_form(), "locked_out": True, "lockout_minutes": minutes},
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        key = _client_key(self.request)
        cache.add(key, 0, settings.LOGIN_RATE_WINDOW_S)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_RATE_WINDOW_S)
        return super().form_invalid(form)

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        cache.delete(_client_key(self.request))
        return super().form_valid(form)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exception, RequestDataTooBig):
        return _error(request, 413, "Too large", f"The request is larger than this server accepts ({exception}).")
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You do not have permission to do that."
    return _error(request, 403, "Not allowed", message)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "Not found", "There is nothing here, or you are not a member of its project.")


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "error.html", {"title": "Server error", "message": "Something went wrong on our side."}, status=500)
