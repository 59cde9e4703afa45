"""Secrets of versions written before a rename, with the real CLI: `stack export --version N
--show-secrets` decrypts through the name version N recorded, so the stack's former names must
reach it, until a new stack takes the name back."""
from tests.support.cli import stash_program


def test_every_version_shows_its_secrets_after_two_renames_until_the_name_is_reused(cli):
    cli.write_program(stash_program({"a": "one"}, outputs={"hidden": {"fn::secret": "s3cr3t"}}))
    cli.run("stack", "init", "first")
    cli.run("up", "--yes", "--skip-preview")
    cli.run("stack", "rename", "second")
    cli.run("stack", "rename", "third")
    for version in (1, 2, 3):
        shown = cli.run("stack", "export", "--version", str(version), "--show-secrets")
        assert "s3cr3t" in shown.stdout, (version, shown)
    # The current state, and an update after the renames, as usual.
    assert "s3cr3t" in cli.run("stack", "output", "hidden", "--show-secrets").stdout
    cli.run("up", "--yes", "--skip-preview")

    cli.run("stack", "init", "first")  # a new stack takes the first name back
    cli.run("stack", "select", "third")
    refused = cli.run("stack", "export", "--version", "1", "--show-secrets", check=False)
    assert refused.returncode != 0
    assert "s3cr3t" not in refused.stdout
    # The versions written as `second` still decrypt through that name.
    assert "s3cr3t" in cli.run("stack", "export", "--version", "2", "--show-secrets").stdout
