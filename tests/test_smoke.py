import pytest


@pytest.mark.django_db
def test_login_page_renders_with_csp_header(client):
    response = client.get("/login/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
