"""The service's own OpenAPI document (built once by app/openapi.py), at the path the CLI's
`pulumi cloud api` explorer reads and at a short one.

Both are public and exempt from the Pulumi Accept check: the CLI asks for this document with
`Accept: application/json` (plus its usual Pulumi header), and browsers and OpenAPI tools send
neither."""
from flask import Blueprint, current_app, jsonify

from ..auth import public
from ..openapi import accepts_any, documented

bp = Blueprint("openapi", __name__, url_prefix="/api/openapi")

DOCUMENT = {"type": "object", "description": "An OpenAPI 3.1 document",
            "required": ["openapi", "info", "paths"]}


@bp.get("")
@public
@accepts_any
@documented(response=DOCUMENT)
def get_openapi():
    """The OpenAPI 3.1 document of this service."""
    return jsonify(current_app.extensions["openapi"])


@bp.get("/pulumi-spec.json")
@public
@accepts_any
@documented(response=DOCUMENT)
def get_pulumi_spec():
    """The OpenAPI 3.1 document, where `pulumi cloud api` looks for it."""
    return jsonify(current_app.extensions["openapi"])
