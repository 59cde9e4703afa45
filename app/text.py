"""The one rule for text the service stores: PostgreSQL text and jsonb cannot hold NUL
characters, and a JSON "\\ud800" escape decodes to a lone surrogate that UTF-8 (and so
PostgreSQL) cannot encode at all. Input is refused where it names something (URLs, names, tags);
free text a program wrote (engine events) is kept, with the offending characters replaced."""

# The same rule as a regular expression, for validators that document their pattern.
NUL_FREE_PATTERN = r"^[^\x00]*$"
REPLACEMENT = "\ufffd"


def has_nul(text):
    return "\x00" in text


def is_storable(text):
    """Whether PostgreSQL can store `text` as it is."""
    if has_nul(text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(value):
    """A JSON value jsonb can hold: NUL characters and unpaired surrogates, which a program's
    output may well contain, become U+FFFD rather than costing the whole batch."""
    if isinstance(value, str):
        if has_nul(value):
            value = value.replace("\x00", REPLACEMENT)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join(REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in value)
        return value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value
