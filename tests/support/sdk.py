"""Pulumi's official REST clients (PyPI `pulumi-cloud-sdk`, `pulumi-esc-sdk`) as tests use them
against a real server (tests/test_cloud_sdk.py, tests/test_console_api.py, tests/test_esc_sdk.py).

Its generated operations send `Accept: application/json`; the service requires Pulumi's header,
so the client gets the transport shim of the README (a per-call header would lose to the
operation's own)."""
import json
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from pulumi_cloud_sdk import ApiClient, Configuration
from pulumi_cloud_sdk.apis import MiscellaneousApi, OrganizationsApi, StacksApi, UsersApi
from pulumi_esc_sdk import Configuration as EscConfiguration
from pulumi_esc_sdk import EscClient

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
        self.url, self.token, self.login = url, token, login
        self.users, self.orgs, self.stacks = UsersApi(api), OrganizationsApi(api), StacksApi(api)
        self.misc = MiscellaneousApi(api)


def status_of(client, method, path, body=None):
    """The status of one plain HTTP call as `client`'s caller (for routes the SDK lacks)."""
    data = None if body is None else json.dumps(body).encode()
    request = Request(client.url + path, data=data, method=method, headers={
        "Authorization": f"token {client.token}", "Content-Type": "application/json"})
    try:
        with transport(request, timeout=30) as response:
            return response.status
    except HTTPError as err:
        err.close()
        return err.code


def esc_client(url, token):
    """The esc-sdk's EscClient for one caller. It puts /api/esc in place of the URL's path (so a
    service behind a path prefix cannot be reached with it), and its default headers win over
    each operation's own, so Pulumi's Accept header goes there."""
    client = EscClient(EscConfiguration(host=url, access_token=token))
    client.esc_api.api_client.set_default_header("Accept", ACCEPT)
    return client
