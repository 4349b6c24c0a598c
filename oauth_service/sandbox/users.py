"""People who can sign in at the sandbox providers."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

#: The tenant id Microsoft uses for every personal (Outlook.com, Hotmail, Live) account.
PERSONAL_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"

#: The work tenant that sandbox users belong to unless told otherwise ("Contoso").
SANDBOX_TENANT_ID = "5f2c1a9e-0b7d-4c3e-9a61-2d8e4b0c7f13"

#: Email domains that make an on-the-fly Microsoft user a personal account.
PERSONAL_DOMAINS = frozenset({"outlook.com", "hotmail.com", "live.com", "outlook.example"})


@dataclass
class SandboxUser:
    """One account at a sandbox provider; blank fields are derived from the email.

    ``mail`` is the mailbox address Graph reports: ``""`` means "same as email", ``None``
    means no mailbox address (as for many personal Microsoft accounts).
    """

    email: str
    name: str = ""
    sub: str = ""
    oid: str = ""
    tid: str = ""
    mail: str | None = ""
    upn: str = ""
    hd: str | None = None
    email_verified: bool = True

    def __post_init__(self) -> None:
        local, _, domain = self.email.partition("@")
        personal = self.tid == PERSONAL_TENANT_ID or (not self.tid and domain.lower() in PERSONAL_DOMAINS)
        if not self.name:
            self.name = " ".join(part.capitalize() for part in local.replace("_", ".").split("."))
        if not self.sub:
            self.sub = str(10**20 + secrets.randbelow(9 * 10**20))
        if not self.oid:
            self.oid = str(uuid.uuid4())
        if not self.tid:
            self.tid = PERSONAL_TENANT_ID if personal else SANDBOX_TENANT_ID
        if self.mail == "":
            self.mail = None if personal else self.email
        if not self.upn:
            self.upn = self.email

    @classmethod
    def personal(cls, email: str, name: str = "") -> SandboxUser:
        """A personal Microsoft account: consumer tenant, no mailbox address in Graph."""
        return cls(email=email, name=name, tid=PERSONAL_TENANT_ID, mail=None)

    @property
    def is_personal(self) -> bool:
        return self.tid == PERSONAL_TENANT_ID
