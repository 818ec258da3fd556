import pytest


@pytest.mark.django_db
def test_login_page_renders_with_csp_header(client):
    response = client.get("/login/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


@pytest.mark.django_db
def test_project_page_with_loop_panel_shows_no_template_syntax(client, project, manager):
    """A multi-line {# #} comment is not a comment in Django: it would print on the page."""
    client.force_login(manager)
    response = client.get(f"/projects/{project.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Model loop" in body or "Generate next round" in body
    for marker in ("{#", "#}", "{%", "%}", "{{", "}}"):
        assert marker not in body, marker
