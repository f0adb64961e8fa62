"""The browser side: the call-taker's seat console and the operations dashboard.

Both pages are static files under engine/ui/ (plain ES modules, no build step) that talk to the
REST API and its live stream; they ask for a log-in themselves, so the pages are public and the
data behind them is not. The machines have no internet: the map library (Leaflet) comes from
the npm package installed at build time (`make setup` runs `npm ci --prefix web`) and is served
from web/node_modules, never from a CDN. Without it the pages still load and say where the map
would be that the map assets are not installed; the engine logs that once.

Every file is resolved inside its root directory (no `..`, no symlink out of it) and served
with an explicit content type, `nosniff`, and a content security policy that allows nothing
from outside the engine.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.settings import PACKAGE_ROOT

log = logging.getLogger(__name__)
UI_DIR = Path(__file__).resolve().parent / "ui"
LEAFLET_DIR = PACKAGE_ROOT / "web" / "node_modules" / "leaflet" / "dist"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
# Leaflet positions its panes and markers through element.style (allowed by CSP without
# 'unsafe-inline'), but its CSS and our status colours use style attributes in a few places.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CITIZEN_PERMISSIONS = "camera=(self), microphone=(self), geolocation=(self)"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def add_routes(app: web.Application, leaflet_dir: Path = LEAFLET_DIR) -> None:
    """GET / (to /console), /console, /dashboard, /app, /ui/vendor/leaflet/{path}, /ui/{path}."""
    if not (leaflet_dir / "leaflet-src.esm.js").is_file():
        log.warning(
            "map assets not installed (%s is missing): run make setup; the console and the "
            "dashboard work without their maps",
            leaflet_dir,
        )
    app.router.add_get("/", home)
    app.router.add_get("/console", _page("console.html"))
    app.router.add_get("/dashboard", _page("dashboard.html"))
    # the citizen's "110 app" page (issue 7): its camera, microphone and position, nobody else's
    app.router.add_get("/app", _page("citizen.html", {"Permissions-Policy": CITIZEN_PERMISSIONS}))
    # the vendor route first: aiohttp tries routes in the order they were added
    app.router.add_get("/ui/vendor/leaflet/{path:.+}", _files(leaflet_dir, "public, max-age=3600"))
    app.router.add_get("/ui/{path:.+}", _files(UI_DIR, "no-cache"))


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")


def resolve(root: Path, relative: str) -> Path | None:
    """The file `relative` names inside `root`, or None: nothing outside root, no directories,
    no hidden files, nothing but the content types we know."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") or "\\" in part for part in parts):
        return None
    base = root.resolve()
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # no such file, a link loop, a NUL byte
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    if path.suffix.lower() not in CONTENT_TYPES:
        return None
    return path


def _serve(path: Path, cache: str, extra: dict[str, str] | None = None) -> web.FileResponse:
    headers = {
        **HEADERS,
        **(extra or {}),
        "Content-Type": CONTENT_TYPES[path.suffix.lower()],
        "Cache-Control": cache,
    }
    return web.FileResponse(path, headers=headers)


def _page(name: str, extra: dict[str, str] | None = None) -> Handler:
    async def page(request: web.Request) -> web.StreamResponse:
        path = resolve(UI_DIR, name)
        if path is None:
            raise web.HTTPNotFound(reason=f"{name} is missing from the installation")
        return _serve(path, "no-cache", extra)

    page.__name__ = name.removesuffix(".html")
    return page


def _files(root: Path, cache: str) -> Handler:
    async def static(request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        path = resolve(root, relative)
        if path is None:
            raise web.HTTPNotFound(reason=f"no file {relative!r}")
        return _serve(path, cache)

    static.__name__ = "vendor" if root != UI_DIR else "ui_file"
    return static
