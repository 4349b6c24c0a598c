"""The closed set of outcomes a person can meet, and the two error types that carry them.

`LinkError` is every failure of the browser flow: it ends on the app's failure redirect or,
when no trustworthy link session is known, on a branded error page. `ApiProblem` is every
failure of the JSON API: it ends as an RFC 9457 problem document naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse

from .i18n import N_


@dataclass(frozen=True)
class ErrorText:
    title: str
    message: str
    retryable: bool = True


# The documented error codes. Apps script against these names: add, never rename.
# The texts are English msgids, marked for extraction and translated when shown (pages.py).
ERRORS: dict[str, ErrorText] = {
    "access_denied": ErrorText(
        N_("You didn't give permission"),
        N_("The connection was cancelled on the sign-in screen. If that was a mistake, try again "
          "and choose Allow."),
    ),
    "missing_scopes": ErrorText(
        N_("Some permissions were not ticked"),
        N_("The account was not connected because a permission it needs was unticked. Try again "
          "and keep the {features} box ticked."),
    ),
    "no_refresh_token": ErrorText(
        N_("The account could not stay connected"),
        N_("The provider did not grant lasting access, so the connection would stop working within "
          "the hour. Try again; if it keeps happening, remove the app from your account's "
          "third-party access settings first."),
    ),
    "admin_consent_required": ErrorText(
        N_("Your organisation needs to approve this app"),
        N_("Your organisation only allows apps its administrator has approved. Ask your IT "
          "administrator to approve {app_name}, then try again."),
    ),
    "provider_error": ErrorText(
        N_("The sign-in provider reported a problem"),
        N_("Something went wrong on the sign-in provider's side. Please try again in a moment."),
    ),
    "id_token_invalid": ErrorText(
        N_("The sign-in answer could not be verified"),
        N_("We could not confirm the sign-in was genuine, so nothing was connected. Please try again."),
    ),
    "state_invalid": ErrorText(
        N_("This sign-in link is not valid"),
        N_("The sign-in answer did not match a connection started here, or it was already used. "
          "Go back to {app_name} and start again."),
        retryable=False,
    ),
    "browser_mismatch": ErrorText(
        N_("Please use the same browser"),
        N_("The sign-in finished in a different browser from the one it started in, so it was "
          "stopped for your safety. Open the link again and finish in the same browser."),
        retryable=False,
    ),
    "state_expired": ErrorText(
        N_("The sign-in took too long"),
        N_("The sign-in screen was open for too long. Please try again."),
    ),
    "session_expired": ErrorText(
        N_("This link has expired"),
        N_("This connection link has expired or was already used. Go back to {app_name} to get a new one."),
        retryable=False,
    ),
    "provider_unavailable": ErrorText(
        N_("This sign-in option is not available"),
        N_("This way of connecting is not available for this link. Go back and choose another."),
        retryable=False,
    ),
    "unipile_rejected": ErrorText(
        N_("The account could not be connected"),
        N_("Your sign-in worked, but the account could not be connected. Please try again, or use "
          "another way to connect."),
    ),
    "unipile_unavailable": ErrorText(
        N_("The connection service is unavailable"),
        N_("Your sign-in worked, but the connection service did not answer in time. Please try again later."),
    ),
    "hosted_unavailable": ErrorText(
        N_("The other ways to connect are unavailable"),
        N_("The connection service could not open its sign-in page just now. Please try again in a "
          "moment, or go back to {app_name}."),
    ),
    "rate_limited": ErrorText(
        N_("Too many attempts"),
        N_("Too many attempts were made from here in a short time. Wait a minute and try again."),
    ),
    "busy": ErrorText(
        N_("One moment, please"),
        N_("Many people are connecting right now. This page will try again by itself in a few seconds."),
    ),
    "request_too_large": ErrorText(
        "This request is too large",
        "The address or the data sent was far larger than anything this service uses. Go back to "
        "{app_name} and start again.",
        retryable=False,
    ),
    "not_found": ErrorText(
        N_("Page not found"),
        N_("There is nothing at this address. Go back to {app_name} and start again."),
        retryable=False,
    ),
    "server_error": ErrorText(
        N_("Something went wrong"),
        N_("Something went wrong on our side. Nothing was lost; please try again in a moment."),
    ),
}


class LinkError(Exception):
    """A browser-flow failure with one of the documented codes.

    `description` is shown to people and sent to the app as `error_description`; it never
    contains a token, a code or a secret.
    """

    def __init__(self, code: str, description: str | None = None, status: int = 400) -> None:
        if code not in ERRORS:
            raise ValueError(f"undocumented error code {code!r}")
        super().__init__(code)
        self.code = code
        self.description = description
        self.status = status


@dataclass
class FieldError:
    field: str
    message: str


class ApiProblem(Exception):
    """A JSON API failure, rendered as `application/problem+json`."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def to_dict(self) -> dict:
        body: dict = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body


def problem_response(problem: ApiProblem) -> JSONResponse:
    """The `application/problem+json` answer for an ApiProblem."""
    return JSONResponse(
        problem.to_dict(),
        status_code=problem.status,
        headers=problem.headers,
        media_type="application/problem+json",
    )
