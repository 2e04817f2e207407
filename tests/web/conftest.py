"""Helpers for console tests over HTTP (no browser): log in, read the CSRF token of a page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no csrf_token field"
    return match.group(1)


def console_login(client: TestClient, username: str, password: str) -> None:
    """Log ``client`` in through the real login form."""
    token = csrf_from(client.get("/console/login").text)
    response = client.post(
        "/console/login",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def page_token(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_from(response.text)
