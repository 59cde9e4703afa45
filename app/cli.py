"""The `pulumi-service` admin command: serve, worker, db upgrade, user, org, token, secrets,
audit, import-diy, blobs, backup, restore."""
import contextlib
import datetime
import getpass
import os
import signal
import socket
import subprocess
import sys
import time

import click
import psycopg2

from . import audit, backup as backups, blobs, diy, embedded, migrate, secrets, signin, tokens
from .auth import ROLES, hash_token, new_token
from .config import Config
from .db import connect
from .errors import ApiError
from .queries import queries
from .schemas.common import ORG_NAME


@contextlib.contextmanager
def _conn():
    """A migrated database's connection in one transaction, closed afterwards (psycopg2's own
    `with conn` commits but leaves the connection open)."""
    url = embedded.database_url()
    migrate.upgrade(url, log=lambda m: click.echo(m, err=True))
    conn = connect(url)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _fail(message):
    raise click.ClickException(message)


def _user(conn, login):
    user = queries.user_by_login(conn, login=login)
    if user is None:
        _fail(f"no user with login {login!r}")
    return user


def admin_actor():
    """The admin command as an audit log actor: who ran it, where."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return audit.Actor(name=f"pulumi-service admin command ({who}@{socket.gethostname()})",
                       user_agent="pulumi-service")


def create_user(conn, login, email="", name="", actor=None):
    """A user and their personal organization; refuses a login taken by a user or an org.
    With `actor`, recorded in the audit log of the user's organization."""
    if not ORG_NAME.match(login):
        _fail(f"invalid login {login!r}: 3 to 40 letters, digits, '-' or '_', "
              "starting and ending with a letter or digit")
    if queries.org_by_name(conn, name=login) is not None:
        _fail(f"the name {login!r} is already taken by a user or an organization")
    try:
        created = queries.create_user(conn, login=login, email=email or "", name=name or "")
    except psycopg2.errors.UniqueViolation:
        conn.rollback()
        _fail(f"the name {login!r} is already taken by a user or an organization")
    if actor is not None:
        audit.record(conn, actor, login, "user.created", login,
                     f"created user {login} (admin of organization {login})")
    return created


def create_token(conn, user, description="", expires_in_days=None, actor=None):
    """A personal token of `user` (the same kind `POST /api/user/tokens` makes); its value, shown
    once. With `actor`, recorded in the audit log of the user's organization (its id and
    description, never the token)."""
    expires_at = None
    if expires_in_days is not None:
        expires_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            days=expires_in_days)
    token_id, token = tokens.create_token(conn, kind="personal", user_id=user["id"],
                                          description=description, expires_at=expires_at)
    if actor is not None:
        audit.record(conn, actor, user["login"], "token.created", f"token {token_id}",
                     f"created token {token_id} for {user['login']}"
                     + (f" ({description})" if description else ""))
    return token


@click.group()
def main():
    """Administer a self-hosted Pulumi Service backend (DATABASE_URL, or the embedded default)."""


@main.group()
def db():
    """The database schema."""


@db.command("upgrade")
@click.option("--dry-run", is_flag=True,
              help="print the migrations that would be applied, and their SQL, applying nothing")
def db_upgrade(dry_run):
    """Apply pending migrations (safe to run from several hosts at once, and while the previous
    release serves: migrations are written expand-then-contract, see the README's "Upgrading")."""
    if dry_run:
        todo = migrate.plan(embedded.database_url())
        for _, name, sql in todo:
            how = "in one transaction" if migrate.in_transaction(sql) else \
                "statement by statement, outside a transaction"
            click.echo(f"would apply migration {name} ({how}):")
            click.echo("".join(f"    {line}\n" for line in sql.strip().splitlines()))
        click.echo(f"{len(todo)} migration(s) pending (dry run: nothing applied)")
        return
    applied = migrate.upgrade(embedded.database_url(), log=click.echo)
    click.echo(f"database is current ({len(applied)} migration(s) applied)")


@main.command()
@click.argument("dest", type=click.Path(file_okay=False))
def backup(dest):
    """Back up the service into the new or empty folder DEST: a consistent snapshot of the
    database (pg_dump, one snapshot), the objects it names in the blob store (BLOB_STORE_URL)
    and a manifest of SHA-256 checksums. The secrets master key is not in it: keep that apart."""
    try:
        backups.backup(embedded.database_url(), dest, store=blobs.open_store(vars(Config())),
                       log=click.echo)
    except (backups.BackupError, blobs.BlobStoreUnavailable) as err:
        _fail(str(err))


@main.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
def restore(src):
    """Rebuild the service from the backup in SRC into an empty database (DATABASE_URL, or the
    embedded default) and, if it holds objects, an empty blob store (BLOB_STORE_URL). Refuses a
    database or bucket that is not empty and a backup whose checksums do not match. Start the
    service with the master key the backed-up service used."""
    url = embedded.database_url()
    try:
        backups.restore(url, src, store=blobs.open_store(vars(Config())), log=click.echo)
    except (backups.BackupError, blobs.BlobStoreUnavailable) as err:
        _fail(str(err))
    with contextlib.closing(connect(url)) as conn, conn:
        canary = queries.get_secrets_canary(conn)
    if canary is not None:
        click.echo(f"restored; its secrets need the master key {canary['master_key_id']} "
                   "(SECRETS_MASTER_KEY or SECRETS_MASTER_KEY_FILE)")


@main.group()
def user():
    """Users (each has a personal organization named after the login)."""


@user.command("create")
@click.argument("login")
@click.option("--email", default="")
@click.option("--name", default="")
def user_create(login, email, name):
    with _conn() as conn:
        create_user(conn, login, email, name, actor=admin_actor())
    click.echo(f"created user {login} (admin of organization {login})")


@user.command("set-password")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def user_set_password(login, password_stdin):
    """Set (or replace) the password LOGIN signs in to the web console with."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _conn() as conn:
        try:
            signin.set_password(conn, login, password)
        except ApiError as err:
            _fail(err.message.split(": ", 1)[-1])
        audit.record(conn, admin_actor(), login, "user.password_set", login,
                     f"set the console password of {login}")
    click.echo(f"password set for {login}")


@main.group()
def org():
    """Organizations and their members."""


@org.command("create")
@click.argument("name")
def org_create(name):
    if not ORG_NAME.match(name):
        _fail(f"invalid organization name {name!r}")
    with _conn() as conn:
        if queries.create_org(conn, name=name) is None:
            _fail(f"organization {name!r} already exists (or is a user's login)")
        audit.record(conn, admin_actor(), name, "org.created", name,
                     f"created organization {name}")
    click.echo(f"created organization {name}")


def _role_of(conn, org_row, login):
    """`login`'s role in the organization, None if not a member."""
    membership = queries.org_member(conn, org_id=org_row["id"], login=login)
    return membership["role"] if membership else None


@org.command("add-member")
@click.argument("org_name", metavar="ORG")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(list(ROLES)))
def org_add_member(org_name, login, role):
    with _conn() as conn:
        found = queries.org_by_name(conn, name=org_name)
        if found is None:
            _fail(f"no organization {org_name!r}")
        if found["personal_user_id"] is not None:
            _fail(f"{org_name!r} is a personal organization")
        member = _user(conn, login)
        before = _role_of(conn, found, login)
        queries.set_membership(conn, org_id=found["id"], user_id=member["id"], role=role)
        if before != role:
            audit.record(conn, admin_actor(), org_name, "member.added", login,
                         f"{login} is now {role} of {org_name}"
                         + (f" (was {before})" if before else ""))
    click.echo(f"{login} is {role} of {org_name}")


@org.command("remove-member")
@click.argument("org_name", metavar="ORG")
@click.argument("login")
def org_remove_member(org_name, login):
    with _conn() as conn:
        found = queries.org_by_name(conn, name=org_name)
        if found is None:
            _fail(f"no organization {org_name!r}")
        member = _user(conn, login)
        before = _role_of(conn, found, login)
        queries.remove_membership(conn, org_id=found["id"], user_id=member["id"])
        if before is not None:
            audit.record(conn, admin_actor(), org_name, "member.removed", login,
                         f"removed {login} ({before}) from {org_name}")
    click.echo(f"{login} removed from {org_name}")


@main.group()
def token():
    """API access tokens (only their hashes are stored)."""


@token.command("create")
@click.argument("login")
@click.option("--description", default="")
@click.option("--expires-in-days", type=click.IntRange(min=1, max=3650), default=None,
              help="refuse the token after this many days (default: never expires)")
def token_create(login, description, expires_in_days):
    """Print a new token for LOGIN, alone on the last line."""
    with _conn() as conn:
        value = create_token(conn, _user(conn, login), description, expires_in_days,
                             actor=admin_actor())
    click.echo(f"created a token for {login}; it is shown once:")
    click.echo(value)


@token.command("revoke")
@click.argument("value", required=False)
@click.option("--id", "token_id", type=int, help="revoke by id (see `token list`)")
def token_revoke(value, token_id):
    if not value and token_id is None:
        _fail("give the token, or --id")
    with _conn() as conn:
        revoked = queries.revoke_token(conn, token_hash=hash_token(value) if value else None,
                                       token_id=token_id)
        if revoked is None:
            _fail("no such active token")
        audit.record(conn, admin_actor(), revoked["login"], "token.revoked",
                     f"token {revoked['id']}", f"revoked token {revoked['id']} of "
                     f"{revoked['login']}" + (f" ({revoked['description']})"
                                              if revoked["description"] else ""))
    click.echo("token revoked")


@token.command("list")
@click.argument("login")
def token_list(login):
    now = datetime.datetime.now(datetime.timezone.utc)
    with _conn() as conn:
        for row in queries.tokens_of_user(conn, user_id=_user(conn, login)["id"]):
            if row["revoked_at"]:
                state = "revoked"
            elif row["expires_at"] and row["expires_at"] <= now:
                state = "expired"
            else:
                state = "active"
            expires = f"{row['expires_at']:%Y-%m-%d}" if row["expires_at"] else "never"
            click.echo(f"{row['id']}\t{state}\t{row['created_at']:%Y-%m-%d}\t"
                       f"{row['last_used_at'] or '-'}\texpires {expires}\t{row['description']}")


@main.group("audit")
def audit_group():
    """The audit log: verify its hash chains, prune old records as a recorded cut, list them."""


@audit_group.command("verify")
@click.option("--org", "org_name", metavar="ORG", help="only this organization's chain")
def audit_verify(org_name):
    """Walk every chain (or ORG's) and report the first broken link (exit status 1)."""
    with _conn() as conn:
        checked, broken = audit.verify(conn, org_name)
    for name, count in checked:
        click.echo(f"{_chain_name(name)}: {count} record(s) checked")
    if broken is not None:
        click.echo(f"BROKEN: {broken}", err=True)
        sys.exit(1)
    if org_name is not None and not checked:
        _fail(f"no audit log for organization {org_name!r}")
    click.echo(f"audit log intact ({len(checked)} chain(s))")


@audit_group.command("prune")
@click.option("--before", required=True, type=click.DateTime(),
              help="remove records older than this date (UTC), e.g. 2026-01-01")
@click.option("--org", "org_name", metavar="ORG", help="only this organization's chain")
def audit_prune(before, org_name):
    """Remove records older than --before, leaving in each chain an `audit.pruned` record that
    says where the chain now starts, so that `audit verify` still passes."""
    before = before.replace(tzinfo=datetime.timezone.utc)
    actor = admin_actor()
    with _conn() as conn:
        names = [org_name] if org_name is not None else [
            c["org_name"] for c in queries.chain_heads(conn, org_name=None)]
        for name in names:
            removed = audit.prune(conn, actor, name, before)
            click.echo(f"{_chain_name(name)}: {removed} record(s) removed")


@audit_group.command("list")
@click.option("--org", "org_name", metavar="ORG", default=audit.SERVICE_CHAIN,
              help="the organization (default: the service's own chain, e.g. failed "
                   "authentication bursts on routes of no organization)")
@click.option("--count", default=50, show_default=True, type=click.IntRange(1, 100_000))
def audit_list(org_name, count):
    """The newest records of a chain, one per line (time, event, actor, address, description)."""
    with _conn() as conn:
        rows, _ = audit.list_records(conn, org_name, page_size=count)
    for row in rows:
        who = row["actor_login"] or row["actor_name"] or "-"
        click.echo(f"{row['at'].astimezone(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}\t{row['event']}\t"
                   f"{who}\t{row['source_ip'] or '-'}\t{row['description']}")


def _chain_name(name):
    return name if name != audit.SERVICE_CHAIN else "(service)"


@main.group("secrets")
def secrets_group():
    """Service-managed secrets: the master key and its rotation.

    The master key comes from SECRETS_MASTER_KEY or SECRETS_MASTER_KEY_FILE (with the embedded
    database and neither set: the key file in the data folder), plus SECRETS_PREVIOUS_MASTER_KEYS.
    """


def _embedded_key():
    """True when the master key is the embedded default's file (no key and no database given)."""
    return not (os.environ.get("SECRETS_MASTER_KEY") or os.environ.get("SECRETS_MASTER_KEY_FILE")
                or os.environ.get("DATABASE_URL"))


def _keyring():
    settings = vars(Config())
    if _embedded_key():
        path = embedded.master_key_path()
        if not path.exists():
            _fail(f"no master key yet: the embedded default makes {path} on first `serve`")
        settings["SECRETS_MASTER_KEY_FILE"] = str(path)
    try:
        return secrets.Keyring.from_settings(settings)
    except secrets.MasterKeyError as err:
        _fail(str(err))


@secrets_group.command("generate-master-key")
@click.option("--out", type=click.Path(dir_okay=False),
              help="write the key to this new file (mode 0600) instead of printing it")
def secrets_generate(out):
    """Make a new random master key (the standard base64 of 32 bytes)."""
    key = secrets.generate_master_key()
    if not out:
        click.echo(key)
        return
    try:
        secrets.write_key_file(out, key)
    except FileExistsError:
        _fail(f"{out} exists; not overwriting a key")
    click.echo(f"wrote a new master key to {out} (id {secrets.master_key_id(secrets.parse_master_key(key, out))})")


@secrets_group.command("status")
def secrets_status():
    """The master key the database uses, the keys given to this command, and how many stacks'
    data keys each master key wraps."""
    keyring = _keyring()
    with _conn() as conn:
        canary = queries.get_secrets_canary(conn)
        rows = list(queries.data_keys_per_master_key(conn))
    click.echo(f"database master key: {canary['master_key_id'] if canary else '(not set up yet)'}")
    click.echo(f"given master keys:   {keyring.describe()}")
    for row in rows:
        held = "held" if row["master_key_id"] in keyring.keys else "NOT HELD"
        click.echo(f"  {row['master_key_id']}: {row['stacks']} stack data keys ({held})")


@secrets_group.command("rotate-master-key")
@click.option("--new-key-file", type=click.Path(exists=True, dir_okay=False),
              help="the new master key, from this file")
@click.option("--generate", "generate_to", type=click.Path(dir_okay=False),
              help="make a new master key and write it to this new file (mode 0600) first")
def secrets_rotate(new_key_file, generate_to):
    """Re-wrap every stack's data key, and the canary, under a new master key, in one
    transaction; values are not re-encrypted.

    The old key is the configured one (SECRETS_MASTER_KEY / _FILE, and
    SECRETS_PREVIOUS_MASTER_KEYS). The new key is --new-key-file, or --generate's new file, or,
    with neither, SECRETS_MASTER_KEY itself when the database still uses a previous key (the
    zero-downtime procedure in the README). With the embedded default and neither option, a new
    key replaces the data folder's key file (the old one is kept beside it as .previous).
    """
    if new_key_file and generate_to:
        _fail("give --new-key-file or --generate, not both")
    keyring = _keyring()
    replace_embedded = None
    if new_key_file:
        try:
            new_raw = secrets.read_master_key_file(new_key_file, "--new-key-file")
        except secrets.MasterKeyError as err:
            _fail(str(err))
    elif generate_to or _embedded_key():
        target = generate_to or str(embedded.master_key_path()) + ".new"
        text = secrets.generate_master_key()
        try:
            secrets.write_key_file(target, text)
        except FileExistsError:
            _fail(f"{target} exists; not overwriting a key (use it with --new-key-file?)")
        new_raw = secrets.parse_master_key(text, target)
        click.echo(f"wrote the new master key to {target}")
        if not generate_to:
            replace_embedded = target
    else:
        new_raw = None  # SECRETS_MASTER_KEY, once we know the database does not use it yet
    with _conn() as conn:
        if new_raw is None:
            canary = queries.get_secrets_canary(conn)
            pending = [r for r in queries.data_keys_per_master_key(conn)
                       if r["master_key_id"] != keyring.current.id]
            if canary and canary["master_key_id"] == keyring.current.id and not pending:
                _fail(f"the database already uses master key {keyring.current.id} (the "
                      "configured SECRETS_MASTER_KEY); give the new key with --new-key-file "
                      "or make one with --generate PATH")
            new_raw = keyring.current.raw
        try:
            old_ids, count = secrets.rotate_master_key(conn, keyring, new_raw)
        except secrets.MasterKeyError as err:
            conn.rollback()
            _fail(str(err))
    new_id = secrets.master_key_id(new_raw)
    click.echo(f"re-wrapped {count} stack data key(s) and the canary under master key {new_id} "
               f"(was: {', '.join(old_ids) or 'none'})")
    if replace_embedded:
        key_file = embedded.master_key_path()
        os.replace(key_file, str(key_file) + ".previous")
        os.replace(replace_embedded, key_file)
        click.echo(f"{key_file} now holds the new key (the old one is in {key_file}.previous); "
                   "restart `pulumi-service serve`")
    else:
        click.echo("servers must now hold the new key: SECRETS_MASTER_KEY (or _FILE) = the new "
                   "key; keep the old one in SECRETS_PREVIOUS_MASTER_KEYS until every server has "
                   "restarted (see the README, Secrets)")


@main.command("import-diy")
@click.argument("source")
@click.option("--org", "org_name", required=True, help="the organization the stacks go to")
@click.option("--project-map", multiple=True, metavar="SRC=DEST",
              help="import project SRC (or one stack, SRC=project/stack; a legacy stack whose "
                   "project is unknown: /stack) as project DEST; repeatable")
@click.option("--dry-run", is_flag=True, help="read everything and print the plan; import nothing")
@click.option("--resume", is_flag=True, help="skip stacks an earlier run imported whole")
@click.option("--replace", is_flag=True, help="overwrite stacks that exist in the service")
@click.option("--verify", "verify", is_flag=True,
              help="compare every imported version with its source; exit 1 on any difference")
@click.option("--ignore-locks", is_flag=True,
              help="import stacks locked by an update that may still be running")
@click.option("--to-service-secrets", is_flag=True,
              help="re-encrypt passphrase secrets (every version's state and config) with the "
                   "service's key for each stack; needs the passphrase and --service-url")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False),
              help="the passphrase (default: PULUMI_CONFIG_PASSPHRASE, or the file in "
                   "PULUMI_CONFIG_PASSPHRASE_FILE)")
@click.option("--service-url", metavar="URL",
              help="the URL the CLI logs in to this service with (the converted stacks' "
                   "secrets provider names it)")
def import_diy(source, org_name, project_map, dry_run, resume, replace, verify, ignore_locks,
               to_service_secrets, passphrase_file, service_url):
    """Move a whole DIY backend (SOURCE: what `pulumi login` was given, a file:// folder or an
    s3://bucket/prefix, the endpoint in the URL or AWS_ENDPOINT_URL) into organization ORG, every stack with its whole history, tags and state. Each stack imports in
    one transaction: an interrupted run leaves whole stacks only, and --resume carries on. Stacks
    keep their secrets provider (a passphrase keeps working with the same
    PULUMI_CONFIG_PASSPHRASE). Exit status 1 when any stack is not imported or differs."""
    converter = None
    if to_service_secrets:
        converter = diy.SecretsConverter(_passphrase(passphrase_file), _keyring(),
                                         service_url or _fail("--to-service-secrets needs "
                                                              "--service-url"))
    try:
        src = diy.open_source(source)
        mapping = diy.parse_project_map(project_map)
        layout, found = diy.discover(src)
    except diy.SourceError as err:
        _fail(str(err))
    report = DiyReport()
    report.line(f"{src.url}: {'project-scoped' if layout else 'legacy'} layout, "
                f"{len(found)} stack(s), {_size(sum(s.size for s in found))}")
    url = embedded.database_url()
    migrate.upgrade(url, log=lambda m: click.echo(m, err=True))
    conn = connect(url)
    try:
        if converter is not None:
            try:
                secrets.check_master_key(conn, converter.keyring)
            except secrets.MasterKeyError as err:
                _fail(str(err))
        if queries.org_by_name(conn, name=org_name) is None:
            _fail(f"no organization {org_name!r} in the service (make it with `pulumi-service "
                  "org create`, or give a user's login)")
        try:
            diy.plan(conn, src, org_name, found, mapping, replace=replace, resume=resume,
                     ignore_locks=ignore_locks, deep=dry_run)
        except diy.SourceError as err:
            _fail(str(err))
        conn.rollback()
        for stack in found:
            for warning in stack.warnings:
                report.line(f"warning: {stack.label}: {warning}")
            for problem in stack.problems:
                report.line(f"problem: {stack.label}: {problem}")
        if dry_run:
            report.table("Plan (dry run: nothing imported)", found, org_name, {
                id(s): ("problem" if s.problems else "already imported"
                        if diy.skipped_as_done(s, resume, replace) else
                        "replace" if s.existing_id else "import") for s in found})
            sys.exit(1 if any(s.problems for s in found) else 0)
        outcome = _import_stacks(conn, src, org_name, found, resume, replace, report, converter)
        if verify:
            for stack in found:
                if outcome[id(stack)] not in ("imported", "already imported"):
                    continue
                differences = diy.verify_stack(conn, src, org_name, stack, converter)
                conn.rollback()
                for difference in differences:
                    report.line(f"DIFFERS: {stack.label}: {difference}")
                outcome[id(stack)] += ", DIFFERS" if differences else ", verified"
        report.table("Summary", found, org_name, outcome)
        kept = [s for s in found if s.secrets_kept]
        if converter is not None and kept:
            report.line(f"secrets not converted ({len(kept)} stack(s); they keep their "
                        "provider):")
            for stack in kept:
                report.line(f"  {stack.label}: {stack.secrets_kept}")
    finally:
        conn.close()
    failed = [s for s in found if outcome[id(s)] not in ("imported", "already imported",
                                                         "imported, verified",
                                                         "already imported, verified")]
    if failed:
        report.line(f"{len(failed)} stack(s) not imported or not equal to their source")
        sys.exit(1)


def _passphrase(path):
    path = path or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if path:
        try:
            return open(path, encoding="utf-8").read().rstrip("\r\n")
        except OSError as err:
            _fail(f"cannot read the passphrase file {path}: {err.strerror}")
    if "PULUMI_CONFIG_PASSPHRASE" not in os.environ:
        _fail("--to-service-secrets needs the passphrase: PULUMI_CONFIG_PASSPHRASE, "
              "PULUMI_CONFIG_PASSPHRASE_FILE or --passphrase-file")
    return os.environ["PULUMI_CONFIG_PASSPHRASE"]


def _import_stacks(conn, src, org_name, found, resume, replace, report, converter=None):
    """Import each stack in a transaction of its own; {id(stack): outcome}."""
    outcome = {}
    todo = [s for s in found if not s.problems and not diy.skipped_as_done(s, resume, replace)]
    for stack in found:
        if stack.problems:
            outcome[id(stack)] = "skipped (problem)"
        elif diy.skipped_as_done(stack, resume, replace):
            outcome[id(stack)] = "already imported"
    with report.progress(len(todo), sum(s.size for s in todo)) as progress:
        for stack in todo:
            try:
                count = diy.import_stack(conn, src, org_name, stack, converter)
                ref = f"{org_name}/{stack.target}"
                audit.record(conn, admin_actor(), org_name, "stack.imported", ref,
                             f"imported stack {ref} with {count} version(s) from the DIY "
                             f"backend's {stack.label}")
                conn.commit()
            except (diy.FileProblem, ApiError) as problem:
                conn.rollback()
                stack.problems.append(str(problem))
                outcome[id(stack)] = "failed"
                progress.stack_done(stack, f"{stack.label}: not imported: {problem}")
                continue
            except KeyboardInterrupt:
                conn.rollback()
                report.line(f"interrupted: {stack.label} was not imported (nothing of it was "
                            "written); run again with --resume to carry on")
                sys.exit(130)
            except Exception:
                conn.rollback()
                raise
            outcome[id(stack)] = "imported"
            secrets_note = ""
            if converter is not None:
                secrets_note = (f", secrets kept ({stack.secrets_kept})" if stack.secrets_kept
                                else ", secrets now the service's")
            progress.stack_done(stack, f"{stack.label} -> {org_name}/{stack.target}: "
                                       f"{count} version(s), {_size(stack.size)}{secrets_note}")
    return outcome


def _size(count):
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000


class DiyReport:
    """import-diy's output: a progress bar (stacks and bytes, rate, ETA) and tables on a terminal;
    plain lines in a pipe or file."""

    def __init__(self):
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True)
        self.terminal = self.console.is_terminal
        if not self.terminal:
            # No terminal to fit: a pipe or a log file gets whole lines, tables uncut.
            self.console = Console(highlight=False, soft_wrap=True, width=1000)

    def line(self, text):
        self.console.print(text, markup=False)

    def table(self, title, found, org_name, status):
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE if self.terminal else box.ASCII)
        for column in ("source stack", "target", "versions", "size", "status"):
            table.add_column(column, justify="right" if column in ("versions", "size") else "left",
                             no_wrap=True)
        for stack in found:
            table.add_row(stack.label, f"{org_name}/{stack.target}",
                          "?" if stack.versions is None else str(stack.versions),
                          _size(stack.size), status[id(stack)])
        self.console.print(table)

    @contextlib.contextmanager
    def progress(self, stacks, total_bytes):
        if self.terminal:
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)

            with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn(),
                          console=self.console) as bar:
                task = bar.add_task(f"stacks 0/{stacks}", total=max(total_bytes, 1))
                yield _Bar(bar, task, stacks)
        else:
            yield _Lines(self, stacks, total_bytes)


class _Bar:
    def __init__(self, bar, task, stacks):
        self.bar, self.task, self.stacks, self.done = bar, task, stacks, 0

    def stack_done(self, stack, text):
        self.done += 1
        self.bar.console.print(text, markup=False, highlight=False)
        self.bar.update(self.task, advance=stack.size,
                        description=f"stacks {self.done}/{self.stacks}")


class _Lines:
    def __init__(self, report, stacks, total_bytes):
        self.report, self.stacks, self.total = report, stacks, total_bytes
        self.done, self.bytes, self.started = 0, 0, time.monotonic()

    def stack_done(self, stack, text):
        self.done += 1
        self.bytes += stack.size
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes / elapsed
        eta = (self.total - self.bytes) / rate if rate else 0
        self.report.line(f"[{self.done}/{self.stacks}] {text} ({self.done / elapsed:.1f} "
                         f"stacks/s, {_size(rate)}/s, ETA {eta:.0f}s)")


def _console_port(port):
    """The CLI finds the console of `http://localhost:8080` at `http://localhost:3000` (and of
    no other local URL without PULUMI_CONSOLE_DOMAIN): so the default setup listens there too."""
    value = os.environ.get("CONSOLE_PORT", "")
    if value:
        return int(value)
    return 3000 if port == 8080 else 0


@main.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="127.0.0.1")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8080")), type=int,
              show_default="8080")
@click.option("--console-port", type=int, default=None,
              help="also serve on this port (default: 3000 when --port is 8080, where the CLI "
                   "looks for the console of http://localhost:8080; 0: none; env CONSOLE_PORT)")
def serve(host, port, console_port):
    """Run the service with gunicorn (the embedded database when DATABASE_URL is unset)."""
    if console_port is None:
        console_port = _console_port(port)
    url = embedded.database_url()
    if not os.environ.get("DATABASE_URL"):
        click.echo(f"using the embedded PostgreSQL in {embedded.data_dir()}")
    env = dict(os.environ, DATABASE_URL=url)
    settings = vars(Config())
    if not (settings["SECRETS_MASTER_KEY"] or settings["SECRETS_MASTER_KEY_FILE"]):
        if os.environ.get("DATABASE_URL"):
            _fail("set SECRETS_MASTER_KEY or SECRETS_MASTER_KEY_FILE (the secrets master key; "
                  "`pulumi-service secrets generate-master-key` makes one)")
        key_file, created = embedded.ensure_master_key()
        env["SECRETS_MASTER_KEY_FILE"] = settings["SECRETS_MASTER_KEY_FILE"] = str(key_file)
        click.echo(f"{'created' if created else 'using'} the secrets master key {key_file} "
                   "(mode 0600): back it up apart from the database; without it no secret "
                   "stored in this service's stacks can be decrypted")
    try:
        keyring = secrets.Keyring.from_settings(settings)
    except secrets.MasterKeyError as err:
        _fail(str(err))
    migrate.upgrade(url, log=click.echo)
    with contextlib.closing(connect(url)) as conn, conn:
        try:
            secrets.check_master_key(conn, keyring)
        except secrets.MasterKeyError as err:
            _fail(str(err))
        if queries.count_users(conn) == 0:
            admin = create_user(conn, "admin", actor=admin_actor())
            first_token = create_token(conn, admin, "first admin token", actor=admin_actor())
            click.echo("created the first user 'admin' with this token (shown once):")
            click.echo(f"\n    {first_token}\n")
            click.echo("log in with the Pulumi CLI:")
            click.echo(f"    PULUMI_ACCESS_TOKEN={first_token} pulumi login http://{host}:{port}\n")
    command = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}"]
    if console_port:
        # The same app: console pages and API alike answer on either port.
        command += ["--bind", f"{host}:{console_port}"]
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "gunicorn.conf.py")
    if os.path.exists(config):
        command += ["--config", config]
    command.append("app:create_app()")
    if console_port:
        click.echo(f"web console on http://{host}:{console_port} (and on http://{host}:{port}; "
                   "the CLI links to http://localhost:3000 when logged in to "
                   "http://localhost:8080, elsewhere set PULUMI_CONSOLE_DOMAIN=<host:port>)")
    click.echo(f"serving on http://{host}:{port}")
    proc = subprocess.Popen(command, env=env)
    # The webhook delivery worker beside gunicorn (more may run elsewhere: `pulumi-service worker`).
    worker_proc = (subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env)
                   if settings["WEBHOOK_WORKER_IN_SERVE"] else None)

    def forward(sig, frame):
        proc.send_signal(sig)
        # SIGHUP reloads gunicorn (new workers on the code now on disk, no request lost); the
        # delivery worker restarts on its own when told to stop.
        if worker_proc is not None and sig != signal.SIGHUP:
            worker_proc.send_signal(sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    status = proc.wait()
    if worker_proc is not None:
        if worker_proc.poll() is None:
            worker_proc.terminate()
        worker_proc.wait()
    sys.exit(status)


@main.group("blobs")
def blobs_group():
    """State blobs in the object store (BLOB_STORE_URL)."""


def _blob_store(settings):
    found = blobs.open_store(settings)
    if found is None:
        _fail("set BLOB_STORE_URL (s3://bucket/prefix) and the store's endpoint and credentials")
    return found


@blobs_group.command("migrate")
@click.option("--to", "to", type=click.Choice(["s3", "db"]), required=True,
              help="s3: move inline versions at or above the size to the object store; "
                   "db: bring every version kept as an object back into PostgreSQL")
@click.option("--min-bytes", type=int, default=None,
              help="smallest compressed state moved to s3 (default: BLOB_STORE_MIN_BYTES)")
@click.option("--batch", type=int, default=100, show_default=True,
              help="versions per transaction")
def blobs_migrate(to, min_bytes, batch):
    """Move finished versions' states between PostgreSQL and the object store. Each batch
    commits on its own: run it again after an interruption and it goes on where it stopped
    (objects a stopped batch wrote are collected as unreferenced)."""
    settings = vars(Config())
    found = _blob_store(settings)
    min_bytes = settings["BLOB_STORE_MIN_BYTES"] if min_bytes is None else min_bytes
    url = embedded.database_url()
    migrate.upgrade(url, log=lambda m: click.echo(m, err=True))
    conn = connect(url)
    moved, after = 0, (0, -1)
    try:
        while True:
            with conn:
                if to == "s3":
                    count, last = blobs.move_batch_to_store(conn, found, after, min_bytes, batch)
                else:
                    count, last = blobs.move_batch_to_database(conn, found, after, batch)
            if last is None:
                break
            moved, after = moved + count, last
            click.echo(f"{moved} version(s) moved", err=True)
    except ApiError as err:
        _fail(f"{err.message}; {moved} version(s) moved so far: run the command again to go on")
    finally:
        conn.close()
    click.echo(f"{moved} version(s) moved to {'the object store' if to == 's3' else 'PostgreSQL'}")


@blobs_group.command("gc")
@click.option("--grace-seconds", type=int, default=None,
              help="delete unreferenced objects older than this (default: BLOB_GC_GRACE_SECONDS)")
def blobs_gc(grace_seconds):
    """Delete the objects no version names (what the worker does every BLOB_GC_INTERVAL_SECONDS)."""
    from .worker import collect_blobs

    settings = vars(Config())
    found = _blob_store(settings)
    grace = settings["BLOB_GC_GRACE_SECONDS"] if grace_seconds is None else grace_seconds
    try:
        deleted = collect_blobs(embedded.database_url(), found, grace)
    except ApiError as err:
        _fail(err.message)
    if deleted is None:
        _fail("another collector is running")
    click.echo(f"{deleted} unreferenced object(s) deleted")


@main.command()
def worker():
    """Deliver webhooks and collect unreferenced state blobs (any number of workers may run, on
    any hosts, against one database)."""
    from . import create_app
    from .worker import Worker

    if not os.environ.get("DATABASE_URL"):
        _fail("set DATABASE_URL (the database the service uses)")
    app = create_app()
    running = Worker(app).start()
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: stop.append(s))
    click.echo("delivering webhooks", err=True)
    while not stop:
        time.sleep(0.2)
    running.stop(timeout=app.config["WEBHOOK_TIMEOUT_SECONDS"] + 5)


if __name__ == "__main__":
    main()
