"""Pulumi's official REST client (PyPI `pulumi-cloud-sdk`) as tests use it against a real server
(tests/test_cloud_sdk.py, tests/test_console_api.py).

Its generated operations send `Accept: application/json`; the service requires Pulumi's header,
so the client gets the transport shim of the README (a per-call header would lose to the
operation's own)."""
from urllib.request import urlopen

from pulumi_cloud_sdk import ApiClient, Configuration
from pulumi_cloud_sdk.apis import MiscellaneousApi, OrganizationsApi, StacksApi, UsersApi

from . import ACCEPT


def transport(request, timeout):
    request.add_header("Accept", ACCEPT)
    return urlopen(request, timeout=timeout)


class Client:
    """The SDK's users, organizations, stacks and miscellaneous APIs for one caller."""

    def __init__(self, url, token, login):
        cfg = Configuration()
        cfg.host = url
        cfg.access_token = token
        api = ApiClient(cfg, transport=transport)
        self.login = login
        self.users, self.orgs, self.stacks = UsersApi(api), OrganizationsApi(api), StacksApi(api)
        self.misc = MiscellaneousApi(api)
