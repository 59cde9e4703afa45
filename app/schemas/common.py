"""Name rules shared by every resource (the same rules the Pulumi CLI enforces)."""
from marshmallow import Schema, ValidationError, fields, validate, EXCLUDE

from .. import text


class _Name(validate.Regexp):
    """A name rule, usable as a marshmallow validator (so that the OpenAPI document states its
    pattern: apispec documents Regexp validators). `pattern` is portable (the document's JSON
    Schema dialect); matching is whole-string, because Python's `$` alone also matches before a
    trailing newline ("dev\n" would pass)."""

    def __init__(self, pattern, error=None):
        super().__init__(pattern, error=error)

    @property
    def pattern(self):
        return self.regex.pattern

    def match(self, value):
        return self.regex.fullmatch(value)

    def __call__(self, value):
        if self.match(value) is None:
            raise ValidationError(self._format_error(value))
        return value

    def with_error(self, error):
        """The same rule, refusing with `error`."""
        return _Name(self.pattern, error=error)


# Owner: user or organization login.
ORG_NAME = _Name(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,38}[a-zA-Z0-9]$")
PROJECT_NAME = _Name(r"^[A-Za-z0-9_.-]{1,100}$")
STACK_NAME = _Name(r"^[A-Za-z0-9_.-]{1,100}$")
TAG_NAME = _Name(r"^[a-zA-Z0-9_.:-]{1,40}$")
MAX_TAG_VALUE = 256


# Text the database cannot hold (app/text.py) is refused as input rather than failing in the
# database. A Regexp, so that the OpenAPI document states it too.
NO_NUL = validate.Regexp(text.NUL_FREE_PATTERN, error="may not contain NUL characters")


def text_field(**kwargs):
    """A string stored or queried as text."""
    return fields.String(validate=NO_NUL, **kwargs)


class Base(Schema):
    class Meta:
        # The CLI adds fields over time; unknown ones are ignored rather than refused.
        unknown = EXCLUDE


def stack_name_field(**kwargs):
    return fields.String(
        validate=STACK_NAME.with_error(
            "stack names may only contain alphanumerics, hyphens, underscores or periods, "
            "and be at most 100 characters",
        ),
        **kwargs,
    )


def validate_tags(tags):
    for name, value in tags.items():
        if not TAG_NAME.match(name):
            raise ValidationError(
                f"invalid tag name {name!r}: at most 40 characters of letters, digits, "
                "'-', '_', '.' or ':'"
            )
        if len(value) > MAX_TAG_VALUE:
            raise ValidationError(f"tag {name!r}: values are at most {MAX_TAG_VALUE} characters")
        if not text.is_storable(value):
            raise ValidationError(f"tag {name!r}: the value is not valid text (NUL character or "
                                  "unpaired surrogate)")


# validate_tags in JSON Schema, for the OpenAPI document.
TAG_MAP_SCHEMA = {
    "type": "object",
    "propertyNames": {"pattern": TAG_NAME.pattern},
    "additionalProperties": {"type": "string", "maxLength": MAX_TAG_VALUE,
                             "pattern": NO_NUL.regex.pattern},
}


def tags_field(**kwargs):
    return fields.Dict(
        keys=fields.String(), values=fields.String(), validate=validate_tags,
        metadata={"openapi": TAG_MAP_SCHEMA}, **kwargs
    )


def check_path_names(org=None, project=None, stack=None):
    """URL segments follow the same rules as bodies (a bad one can never name a stack)."""
    errors = {}
    if org is not None and not ORG_NAME.match(org):
        errors["org"] = [f"invalid organization name {org!r}"]
    if project is not None and not PROJECT_NAME.match(project):
        errors["project"] = [f"invalid project name {project!r}"]
    if stack is not None and not STACK_NAME.match(stack):
        errors["stack"] = [f"invalid stack name {stack!r}"]
    if errors:
        raise ValidationError(errors)
