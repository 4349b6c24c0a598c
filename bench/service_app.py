"""This service as `oauth-service serve` builds it, as a uvicorn factory so `--workers N` works.

`oauth-service serve` hands uvicorn an app object, which uvicorn cannot fork into workers; this
factory does the same two things (logging as configured, `create_app(load_settings())`).
"""

from __future__ import annotations

from starlette.applications import Starlette

from oauth_service.__main__ import configure_logging
from oauth_service.app import create_app
from oauth_service.settings import load_settings


def create() -> Starlette:
    settings = load_settings(env_file=None)
    configure_logging(settings.log_level)
    return create_app(settings)
