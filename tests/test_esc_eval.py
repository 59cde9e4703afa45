"""The ESC language, table-driven: each case a definition (with the environments it may import)
and the opened result, secret flags included, or the diagnostics it must give. No database: the
evaluator (app/esc/) is pure; imports come from a dict."""
import base64
import json

import pytest

from app.esc import evaluate, syntax
from app.esc.evaluate import Diagnostics, Loader, environment_to_wire


class DictLoader(Loader):
    """Imports from {name: yaml}; "ciphertexts" are base64 of "sealed:" + plaintext."""

    def __init__(self, envs):
        self.envs = envs

    def load(self, name):
        name = name.split("@")[0]
        full = name if "/" in name else f"default/{name}"
        text = self.envs.get(full)
        return None if text is None else (full, text, self)

    def decrypt(self, ciphertext):
        text = base64.b64decode(ciphertext).decode()
        if not text.startswith("sealed:"):
            raise ValueError("not ours")
        return text[len("sealed:"):]


def shape(wire):
    """A wire Value without traces: secrets as {"secret": value}."""
    inner = wire["value"]
    if isinstance(inner, dict):
        return {k: shape(v) for k, v in inner.items()}
    if isinstance(inner, list):
        return [shape(v) for v in inner]
    if wire.get("unknown"):
        return {"unknown": True}
    return {"secret": inner} if wire.get("secret") else inner


def opened(text, envs=None):
    properties = evaluate.evaluate("default/test", text, DictLoader(envs or {}))
    wire = environment_to_wire(properties)
    json.dumps(wire)  # always JSON
    return {k: shape(v) for k, v in wire["properties"].items()}


def summaries(text, envs=None):
    with pytest.raises(Diagnostics) as caught:
        evaluate.evaluate("default/test", text, DictLoader(envs or {}))
    return [d["summary"] for d in caught.value.diagnostics]


SEALED = base64.b64encode(b"sealed:hunter2").decode()

CASES = {
    "empty document": ("", {}, {}),
    "plain values of every YAML type": (
        "values:\n  s: text\n  n: 42\n  f: 1.5\n  b: true\n  z: null\n  l: [1, two]\n  o: {k: v}\n",
        {}, {"s": "text", "n": 42, "f": 1.5, "b": True, "z": None, "l": [1, "two"],
             "o": {"k": "v"}}),
    "whole-string interpolation keeps the type": (
        "values:\n  a: {n: 3}\n  b: ${a}\n  c: ${a.n}\n", {},
        {"a": {"n": 3}, "b": {"n": 3}, "c": 3}),
    "interpolation inside text": (
        'values:\n  host: db\n  port: 5432\n  url: "pg://${host}:${port}/x"\n', {},
        {"host": "db", "port": 5432, "url": "pg://db:5432/x"}),
    "property access: dots, indexes, quoted keys": (
        'values:\n  l: [{x: 1}, {"a b": 2}]\n  one: ${l[0].x}\n  two: ${l[1]["a b"]}\n', {},
        {"l": [{"x": 1}, {"a b": 2}], "one": 1, "two": 2}),
    "forward references": ("values:\n  a: ${b}-x\n  b: ${c}\n  c: z\n", {},
                           {"a": "z-x", "b": "z", "c": "z"}),
    "escaped interpolation": ('values:\n  a: "$${not}"\n', {}, {"a": "${not}"}),
    "imports merge in order under own values": (
        "imports: [base, more]\nvalues:\n  o: {own: 1}\n  top: mine\n",
        {"default/base": "values:\n  o: {b: 1, x: base}\n  top: base\n  keep: b\n",
         "default/more": "values:\n  o: {x: more}\n"},
        {"o": {"b": 1, "x": "more", "own": 1}, "top": "mine", "keep": "b"}),
    "imports with a project and a version": (
        "imports: [proj/shared@3]\nvalues:\n  c: ${v}\n", {"proj/shared": "values:\n  v: 1\n"},
        {"v": 1, "c": 1}),
    "interpolation reaches imported values": (
        "imports: [base]\nvalues:\n  url: ${host}/x\n", {"default/base": "values:\n  host: h\n"},
        {"host": "h", "url": "h/x"}),
    "fn::secret marks the value secret": ("values:\n  p:\n    fn::secret: hunter2\n", {},
                                          {"p": {"secret": "hunter2"}}),
    "a sealed secret is decrypted": (
        f"values:\n  p:\n    fn::secret: {{ciphertext: {SEALED}}}\n", {},
        {"p": {"secret": "hunter2"}}),
    "secrets stay secret through interpolation": (
        "values:\n  p: {fn::secret: pw}\n  dsn: u:${p}@h\n", {},
        {"p": {"secret": "pw"}, "dsn": {"secret": "u:pw@h"}}),
    "secret imported stays secret": (
        "imports: [base]\nvalues:\n  x: ${p}\n", {"default/base": "values:\n  p: {fn::secret: s}\n"},
        {"p": {"secret": "s"}, "x": {"secret": "s"}}),
    "fn::join": ('values:\n  j: {fn::join: [",", [a, b, c]]}\n', {}, {"j": "a,b,c"}),
    "fn::split": ('values:\n  s: {fn::split: [",", "a,b"]}\n', {}, {"s": ["a", "b"]}),
    "fn::concat": ("values:\n  c: {fn::concat: [[1], [2, 3]]}\n", {}, {"c": [1, 2, 3]}),
    "fn::toJSON": ("values:\n  j: {fn::toJSON: {a: [1, true]}}\n", {}, {"j": '{"a":[1,true]}'}),
    "fn::fromJSON": ("values:\n  o: {fn::fromJSON: '{\"a\": [1]}'}\n  a: ${o.a[0]}\n", {},
                     {"o": {"a": [1]}, "a": 1}),
    "fn::toBase64 and fn::fromBase64": (
        "values:\n  e: {fn::toBase64: hi}\n  d: {fn::fromBase64: aGk=}\n", {},
        {"e": "aGk=", "d": "hi"}),
    "fn::toString": ("values:\n  n: {fn::toString: 42}\n  o: {fn::toString: {a: 1}}\n", {},
                     {"n": "42", "o": '{"a":1}'}),
    "functions of secrets are secret": (
        "values:\n  e: {fn::toBase64: {fn::secret: pw}}\n", {}, {"e": {"secret": "cHc="}}),
    "fn::final passes its value": ("values:\n  f: {fn::final: v}\n", {}, {"f": "v"}),
    "fn::conform passes a conforming value": (
        "values:\n  port:\n    fn::conform:\n      schema: {type: integer, minimum: 1, maximum: 65535}\n"
        "      value: 8080\n  user:\n    fn::conform:\n      schema:\n        type: object\n"
        "        properties: {name: {type: string, minLength: 1}, tags: {type: array, items: "
        "{enum: [a, b]}}}\n        required: [name]\n        additionalProperties: false\n"
        "      value: {name: mona, tags: [a, b]}\n", {},
        {"port": 8080, "user": {"name": "mona", "tags": ["a", "b"]}}),
    "fn::conform with a schema from a reference, of a secret": (
        "values:\n  s: {type: string, pattern: '^pw'}\n"
        "  v: {fn::conform: {schema: '${s}', value: {fn::secret: pw1}}}\n", {},
        {"s": {"type": "string", "pattern": "^pw"}, "v": {"secret": "pw1"}}),
    "reserved keys": (
        "values:\n  pulumiConfig: {aws:region: us-west-2}\n"
        "  environmentVariables: {TOKEN: t}\n  files: {KEY: k}\n", {},
        {"pulumiConfig": {"aws:region": "us-west-2"}, "environmentVariables": {"TOKEN": "t"},
         "files": {"KEY": "k"}}),
}


@pytest.mark.parametrize("text,envs,expected", CASES.values(), ids=CASES.keys())
def test_opens(text, envs, expected):
    assert opened(text, envs) == expected


ERRORS = {
    "invalid YAML": ("values: [unclosed\n", {}, "invalid YAML"),
    "not an object": ("- a\n", {}, "must be an object"),
    "values not an object": ("values: [1]\n", {}, "values must be an object"),
    "unknown property": ("values:\n  a: ${nope.x}\n", {}, 'unknown property "nope.x"'),
    "bad path": ("values:\n  a: ${a..b}\n", {}, "invalid property path"),
    "cycle": ("values:\n  a: ${b}\n  b: ${a}\n", {}, "cyclic reference"),
    "self reference": ("values:\n  a: x${a}\n", {}, "cyclic reference"),
    "unknown import": ("imports: [nope]\n", {}, 'unknown environment "nope"'),
    "import cycle": ("imports: [a]\n", {"default/a": "imports: [b]\n", "default/b": "imports: [test]\n",
                                        "default/test": "imports: [a]\n"}, "cyclic import"),
    "imported environment with errors": ("imports: [bad]\n", {"default/bad": "values: {a: ${x}}\n"},
                                         'the imported environment "bad" has errors'),
    "fn::join with a non-list": ("values:\n  j: {fn::join: x}\n", {}, "fn::join: the argument"),
    "fn::join with non-strings": ('values:\n  j: {fn::join: [",", [1]]}\n', {},
                                  "list of strings"),
    "fn::fromJSON with bad JSON": ("values:\n  j: {fn::fromJSON: '{'}\n", {}, "invalid JSON"),
    "fn::fromBase64 with bad base64": ("values:\n  j: {fn::fromBase64: '!!'}\n", {}, "not base64"),
    "fn::toBase64 of a number": ("values:\n  j: {fn::toBase64: 1}\n", {}, "must be a string"),
    "fn::secret of an object": ("values:\n  s: {fn::secret: {a: 1}}\n", {}, "must be a string"),
    "a ciphertext that does not open": (
        "values:\n  s: {fn::secret: {ciphertext: bm9wZQ==}}\n", {}, "cannot be decrypted"),
    "unknown function": ("values:\n  x: {fn::nope: 1}\n", {}, "unknown function fn::nope"),
    "providers are not available": ("values:\n  x: {fn::open::aws-login: {}}\n", {},
                                    "provider not available on this service"),
    "providers are not available in the long form": (
        "values:\n  x: {fn::open: {provider: vault-secrets, inputs: {}}}\n", {},
        'provider not available on this service ("vault-secrets")'),
    "environment variables must be strings": (
        "values:\n  environmentVariables: {A: {b: 1}}\n", {}, "environmentVariables.A must be a string"),
    "fn::conform, wrong type": ("values:\n  x: {fn::conform: {schema: {type: string}, value: 42}}\n",
                                {}, "value: expected string, got number"),
    "fn::conform, missing required": (
        "values:\n  x: {fn::conform: {schema: {type: object, required: [name]}, value: {a: 1}}}\n",
        {}, "value: missing required properties: name"),
    "fn::conform, bounds": (
        "values:\n  x: {fn::conform: {schema: {type: string, minLength: 5}, value: hi}}\n", {},
        "expected a string of at least length 5"),
    "fn::conform, minimum": (
        "values:\n  x: {fn::conform: {schema: {minimum: 10}, value: 5}}\n", {},
        "expected a number greater than or equal to 10"),
    "fn::conform, nested path": (
        "values:\n  x:\n    fn::conform:\n      schema: {properties: {user: {properties: {age: "
        "{type: number}}}}}\n      value: {user: {age: old}}\n", {},
        "value.user.age: expected number, got string"),
    "fn::conform, array items": (
        "values:\n  x: {fn::conform: {schema: {items: {type: string}}, value: [a, 1]}}\n", {},
        "value[1]: expected string, got number"),
    "fn::conform, unknown property": (
        "values:\n  x: {fn::conform: {schema: {additionalProperties: false}, value: {a: 1}}}\n",
        {}, 'value.a: unknown property "a"'),
    "fn::conform, enum": ("values:\n  x: {fn::conform: {schema: {enum: [a, b]}, value: c}}\n",
                          {}, 'expected one of "a", "b"'),
    "fn::conform, a bad schema": ("values:\n  x: {fn::conform: {schema: [1], value: 1}}\n", {},
                                  "invalid schema: a schema must be an object"),
    "fn::conform, a bad pattern": (
        "values:\n  x: {fn::conform: {schema: {pattern: '('}, value: a}}\n", {},
        "invalid schema: invalid pattern"),
    "fn::conform, a pattern that backtracks without end": (
        "values:\n  x: {fn::conform: {schema: {pattern: '^(a|a)*$'}, value: " + "a" * 40 + "b}}\n",
        {}, "took too long to match"),
    "fn::conform without a value": ("values:\n  x: {fn::conform: {schema: {}}}\n", {},
                                    "exactly schema and value"),
    "deep nesting": ("values:\n  a: " + "[" * 100 + "]" * 100 + "\n", {}, "nests deeper"),
    "very deep nesting": ("values:\n  a: " + "[" * 5000 + "]" * 5000 + "\n", {}, "nests deeper"),
}


@pytest.mark.parametrize("text,envs,summary", ERRORS.values(), ids=ERRORS.keys())
def test_diagnoses(text, envs, summary):
    found = summaries(text, envs)
    assert any(summary in s for s in found), found


def test_import_chains_past_the_limit_are_diagnosed():
    envs = {f"default/e{i}": f"imports: [e{i + 1}]\n" for i in range(evaluate.MAX_IMPORT_DEPTH + 2)}
    envs[f"default/e{evaluate.MAX_IMPORT_DEPTH + 2}"] = "values: {a: 1}\n"
    assert any("imports nest deeper" in s for s in summaries("imports: [e0]\n", envs))


def test_values_carry_the_range_that_defines_them():
    properties = evaluate.evaluate("default/test", "values:\n  a: 1\n  b: x\n", DictLoader({}))
    wire = environment_to_wire(properties)["properties"]["b"]
    assert wire["trace"]["def"] == {"environment": "default/test",
                                    "begin": {"line": 3, "column": 6, "byte": 20},
                                    "end": {"line": 3, "column": 7, "byte": 21}}


def test_diagnostics_carry_ranges():
    with pytest.raises(Diagnostics) as caught:
        evaluate.evaluate("default/test", "values:\n  a: ${nope}\n", DictLoader({}))
    diag = caught.value.diagnostics[0]
    assert diag["range"]["begin"]["line"] == 2 and diag["range"]["environment"] == "default/test"


def test_secrets_are_redacted_unless_shown():
    properties = evaluate.evaluate("default/test", "values:\n  p: {fn::secret: pw}\n",
                                   DictLoader({}))
    assert environment_to_wire(properties, show_secrets=False)["properties"]["p"]["value"] == "[secret]"


def test_seal_replaces_plaintext_secrets_and_keeps_the_rest():
    text = ("# comment kept\nvalues:\n  a: 1\n  p:\n    fn::secret: hunter2\n"
            "  q: {fn::secret: 'quoted'}\n  r:\n    fn::secret: |\n      block\n  s: after\n")
    sealed = syntax.seal(text, lambda p: base64.b64encode(b"sealed:" + p.encode()).decode())
    assert "hunter2" not in sealed and "quoted" not in sealed and "block" not in sealed
    assert sealed.startswith("# comment kept\n") and "  s: after\n" in sealed
    assert opened(sealed) == {"a": 1, "p": {"secret": "hunter2"}, "q": {"secret": "quoted"},
                              "r": {"secret": "block\n"}, "s": "after"}
    shown = syntax.unseal(sealed, lambda c: base64.b64decode(c).decode()[len("sealed:"):])
    assert opened(shown) == opened(sealed)
    assert "hunter2" in shown


class StacksLoader(DictLoader):
    """A provider "stacks" whose outputs hold a secret, one this service cannot open (None) and
    a plain value; other providers are not available."""

    def open(self, provider, inputs):
        if provider != "stacks":
            return None
        if inputs.get("fail"):
            raise evaluate.ProviderError('stack "x" not found')
        return {"net": {"id": "vpc-1", "pw": evaluate.Secret("s3"),
                        "foreign": evaluate.Secret(None), "tree": evaluate.Secret({"a": [1]})}}


def test_provider_results_keep_their_secrets_and_flow_into_interpolation():
    text = ("values:\n  s: {fn::open::stacks: {}}\n  id: ${s.net.id}\n"
            "  both: ${s.net.id}-${s.net.pw}\n")
    properties = evaluate.evaluate("default/test", text, StacksLoader({}))
    wire = environment_to_wire(properties)["properties"]
    assert {k: shape(v) for k, v in wire.items()} == {
        "s": {"net": {"id": "vpc-1", "pw": {"secret": "s3"}, "foreign": {"unknown": True},
                      "tree": {"a": [{"secret": 1}]}}},
        "id": "vpc-1", "both": {"secret": "vpc-1-s3"}}
    assert wire["s"]["value"]["net"]["value"]["foreign"]["secret"] is True
    with pytest.raises(Diagnostics) as caught:
        evaluate.evaluate("default/test", "values:\n  s: {fn::open::stacks: {fail: true}}\n",
                          StacksLoader({}))
    assert caught.value.diagnostics[0]["summary"] == 'fn::open::stacks: stack "x" not found'


class ContextLoader(DictLoader):
    def context(self):
        return {"pulumi": {"user": {"login": "mona"}, "organization": {"login": "acme"}}}


def test_context_says_who_evaluates_even_in_imports():
    text = ("imports: [a]\nvalues:\n  greeting: Hello, ${context.pulumi.organization.login}/"
            "${context.pulumi.user.login}!\n")
    found = evaluate.evaluate("default/test", text, ContextLoader(
        {"default/a": "values:\n  who: ${context.pulumi.user.login}\n"}))
    assert {k: v.value for k, v in found.items()} == {"greeting": "Hello, acme/mona!",
                                                       "who": "mona"}
    with pytest.raises(Diagnostics) as caught:
        evaluate.evaluate("default/test", "values:\n  x: ${context.pulumi.nope}\n",
                          ContextLoader({}))
    assert 'unknown property "context.pulumi.nope"' in caught.value.diagnostics[0]["summary"]
    # Without an evaluation context (no caller), `context` is unknown.
    assert summaries("values:\n  x: ${context.pulumi.user.login}\n")
