"""What the portal's routes declare: the :class:`Portal` (its pages and the feed server), the
partner token a request carries, the partner it signs in, and forms only from this host's
pages. A refusal is a page (the token form), raised as :class:`PageRefused`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.feeds import pages
from services.feeds.http.server import FeedServer, Server, partner_token
from services.feeds.publishing import Feeds
from shared import display
from shared.i18n import N_, Ui
from shared.registry import Partner
from shared.web import NavLink, Problem, same_origin

COOKIE = "partner_token"
HEADERS = display.PAGE_HEADERS
PRIVATE = {**HEADERS, "Cache-Control": "private, no-store"}
# A preview is cheap (the feed document comes from this replica's cache) and should show a new
# render at once: no caching by the browser.
PUBLIC = {**HEADERS, "Cache-Control": "no-cache"}
#: What the token form says went wrong (message ids, translated on the page).
TOKEN_NEEDED = N_("Feed token needed.")
FOREIGN_FORM = Problem(
    N_("Form not accepted."),
    N_("It was sent from another site: open this portal's own page and send it from there."),
)
UNKNOWN_TOKEN = Problem(TOKEN_NEEDED, N_("This feed token is unknown, revoked or expired."))


class PageRefused(Exception):
    """A request the portal answers with a page that says why (the token form, mostly)."""

    def __init__(self, page: Response) -> None:
        super().__init__(page.status_code)
        self.page = page


@dataclass(frozen=True)
class Portal:
    """The portal's pages in the request's interface language, and the feed server whose
    documents they show."""

    server: FeedServer
    ui: Ui

    @property
    def feeds(self) -> Feeds:
        return self.server.feeds

    @property
    def base(self) -> str:
        return self.feeds.public_url

    @property
    def home(self) -> str:
        return f"{self.base}/feeds"

    def render(
        self, name: str, status: int, headers: dict[str, str], **context: Any
    ) -> HTMLResponse:
        body = pages.ENV.get_template(name).render(
            site_name=pages.SITE_NAME,
            home=self.home,
            assets=pages.ASSETS,
            nav=[
                NavLink(N_("Directory"), self.home),
                NavLink(N_("OPML"), f"{self.base}/feeds.opml"),
            ],
            opml_url=f"{self.base}/feeds.opml",
            ui=self.ui,
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=headers)

    def token_form(self, partner: str, status: int, problem: Problem | None) -> HTMLResponse:
        """The form that asks for ``partner``'s feed token, saying what went wrong, if anything."""
        return self.render("partner_token.html", status, PRIVATE, partner=partner, problem=problem)


def portal_of(server: Server, request: Request) -> Portal:
    return Portal(server, pages.ui_of(request))


PortalOf = Annotated[Portal, Depends(portal_of)]


def token_of(request: Request) -> str | None:
    """The partner's feed token: an ``Authorization: Bearer`` header, or the portal's cookie."""
    return partner_token(request.headers.get("authorization"), None, None) or (
        request.cookies.get(COOKIE) or None
    )


#: The feed token a request carries, if any (it is checked where it is used).
Token = Annotated[str | None, Depends(token_of)]


async def signed_in(partner_id: str, token: Token, portal: PortalOf) -> Partner:
    """The partner of the path, if the request's token is one of its valid tokens; the token
    form (401) otherwise."""
    if token is None:
        raise PageRefused(portal.token_form(partner_id, 401, None))
    partner = await portal.feeds.registry.partner_for_token(token)
    if partner is None or partner.id != partner_id:
        raise PageRefused(portal.token_form(partner_id, 401, UNKNOWN_TOKEN))
    return partner


SignedIn = Annotated[Partner, Depends(signed_in)]


def same_site(partner_id: str, request: Request, portal: PortalOf) -> None:
    """A form posted for the path's partner, only from a page of this host."""
    if not same_origin(request):
        raise PageRefused(portal.token_form(partner_id, 403, FOREIGN_FORM))


@dataclass(frozen=True)
class SignIn:
    """The sign-in form: a partner id and one of its feed tokens (both unchecked)."""

    partner: str
    token: str


async def sign_in_form(request: Request, portal: PortalOf) -> SignIn:
    """The sign-in form's fields, once it is known to come from a page of this host."""
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    partner_id = str(form.get("partner") or "").strip().lower()
    token = str(form.get("token") or "").strip()
    if not same_origin(request):
        raise PageRefused(portal.token_form(partner_id, 403, FOREIGN_FORM))
    return SignIn(partner_id, token)


#: The sign-in form, from a page of this host.
SignInForm = Annotated[SignIn, Depends(sign_in_form)]
