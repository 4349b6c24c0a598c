"""Stand-ins for Google, Microsoft (with Graph) and Unipile that speak their wire protocols.

Tests drive them over real HTTP on loopback; the ``demo`` command lets a person click through.
"""

from .app import Sandbox
from .behaviour import Behaviour
from .faults import Fault
from .google import GoogleProvider
from .graph import GraphStandIn
from .hosted import HostedLink, Notification
from .microsoft import MicrosoftProvider
from .oidc import IssuedToken, OpenIDProvider, TokenRequest
from .unipile import RecordedRequest, UnipileAccount, UnipileStandIn
from .users import PERSONAL_TENANT_ID, SANDBOX_TENANT_ID, SandboxUser

__all__ = [
    "PERSONAL_TENANT_ID",
    "SANDBOX_TENANT_ID",
    "Behaviour",
    "Fault",
    "GoogleProvider",
    "GraphStandIn",
    "HostedLink",
    "IssuedToken",
    "MicrosoftProvider",
    "Notification",
    "OpenIDProvider",
    "RecordedRequest",
    "Sandbox",
    "SandboxUser",
    "TokenRequest",
    "UnipileAccount",
    "UnipileStandIn",
]
