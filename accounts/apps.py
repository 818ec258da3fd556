from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in protection: a failed-login limit kept atomically in the database."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts.forms import AdminLoginForm

        # The admin's own login page goes through the same limit as /login/ and token creation.
        admin.site.login_form = AdminLoginForm
