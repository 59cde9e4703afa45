"""The audit log: who changed what, written in the transaction of the change it records, as one
hash chain per organization (tamper-evident: `verify` finds the first broken link), read back
as Pulumi's AuditLogEvent. Functions take the connection and never commit; the caller (a route,
the admin command) says who acted with an `Actor`. Never a secret value or a token."""
import dataclasses
import hashlib
import json
from datetime import timezone

from .queries import queries

GENESIS = bytes(32)  # the `prev_hash` of a chain's first record
SERVICE_CHAIN = ""   # events that belong to no organization
MAX_TEXT = 1024      # longest user agent or description kept (a record stays small)


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acted, and from where: a user's login (or empty), a display name for non-human
    actors (the admin command), the API token's id, the client's address and user agent."""
    login: str = ""
    name: str = ""
    token_id: int | None = None
    source_ip: str = ""
    user_agent: str = ""


# --- the vocabulary ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EventType:
    display_name: str
    description: str
    requires_org_admin: bool = False
    requires_stack_admin: bool = False
    authentication_failure: bool = False
    severity: int = 3  # CEF severity (0-10)


EVENT_TYPES = {
    "stack.created": EventType("Stack Created", "A stack was created."),
    "stack.deleted": EventType("Stack Deleted", "A stack was deleted (restorable, with its "
                                               "history, until its retention ends).",
                               requires_org_admin=True, requires_stack_admin=True, severity=5),
    "stack.restored": EventType("Stack Restored", "A deleted stack was restored with its "
                                "history (under its name, or a new one).",
                                requires_org_admin=True, severity=5),
    "stack.purged": EventType("Stack Purged", "A deleted stack past its retention "
                              "(STACK_RETENTION_DAYS) was removed for good with its history.",
                              severity=5),
    "stack.renamed": EventType("Stack Renamed", "A stack was renamed (or moved to another "
                                                "project of its organization)."),
    "stack.tags_updated": EventType("Stack Tags Updated", "A stack's tags were replaced."),
    "stack.exported": EventType("Stack Exported", "A stack's state (current, or of a version) "
                                "was exported."),
    "stack.imported": EventType("Stack Imported", "A stack's state was replaced "
                                                  "(`pulumi stack import`, `pulumi state` edits)."),
    "update.started": EventType("Update Started", "An update, preview, refresh or destroy "
                                                  "started on a stack."),
    "update.completed": EventType("Update Completed", "An update, preview, refresh or destroy "
                                                      "ended, with its result."),
    "update.abandoned": EventType("Update Abandoned", "A running update whose CLI stopped "
                                                      "renewing its lease was ended as failed "
                                                      "when the next one started."),
    "update.cancelled": EventType("Update Cancelled", "A running operation was cancelled "
                                                      "(`pulumi cancel`)."),
    "secrets.decrypted": EventType("Secrets Decrypted", "Secret values of a stack were "
                                                        "decrypted (their count, never a value)."),
    "secrets.decrypt_refused": EventType("Secrets Decrypt Refused", "A decrypt was refused (the "
                                         "caller's role, or a ciphertext the stack's key did not "
                                         "make).", severity=5),
    "secrets.shown": EventType("Secrets Shown", "The CLI displayed a stack's secrets "
                                                "(`--show-secrets`)."),
    "environment.created": EventType("Environment Created", "An ESC environment was created."),
    "environment.updated": EventType("Environment Updated", "A new revision of an ESC "
                                                          "environment's definition was saved."),
    "environment.revision_tag_changed": EventType("Environment Revision Tag Changed", "A "
                                                  "revision tag of an ESC environment was "
                                                  "created, moved or deleted."),
    "environment.tag_changed": EventType("Environment Tag Changed", "A tag of an ESC "
                                         "environment was set, changed or deleted."),
    "environment.settings_changed": EventType("Environment Settings Changed", "An ESC "
                                              "environment's settings (deletion protection) "
                                              "changed.", requires_org_admin=True, severity=5),
    "environment.revision_retracted": EventType("Environment Revision Retracted", "A revision "
                                                "of an ESC environment was retracted (its tags "
                                                "moved to its replacement).", severity=5),
    "environment.permission_changed": EventType("Environment Permission Changed", "A team's "
                                                "permission on an ESC environment was granted, "
                                                "changed or removed.",
                                                requires_org_admin=True, severity=5),
    "environment.deleted": EventType("Environment Deleted", "An ESC environment and its "
                                                          "revisions were deleted.",
                                     requires_org_admin=True, severity=5),
    "user.created": EventType("User Created", "A user (and their personal organization) was "
                                              "created with the admin command."),
    "org.created": EventType("Organization Created", "An organization was created with the "
                                                    "admin command."),
    "org.updated": EventType("Organization Settings Updated", "An organization's settings "
                                                             "changed (PATCH /api/orgs/{org}).",
                             requires_org_admin=True, severity=5),
    "member.added": EventType("Member Added", "A user was given a role in an organization "
                                              "(or their role changed).", requires_org_admin=True,
                              severity=5),
    "member.invited": EventType("Member Invited", "An admin made a one-time invite link to "
                                "the organization (its id and role, never the link).",
                                requires_org_admin=True, severity=5),
    "member.invite_revoked": EventType("Member Invite Revoked", "An open invite link was "
                                       "revoked.", requires_org_admin=True),
    "member.removed": EventType("Member Removed", "A user was removed from an organization.",
                                requires_org_admin=True, severity=5),
    "user.password_set": EventType("User Password Set", "A user's console password was set "
                                   "by the admin command (never the password).",
                                   requires_org_admin=True, severity=5),
    "token.created": EventType("Access Token Created", "An API token was created (its id and "
                                                       "description, never the token).",
                               severity=5),
    "token.revoked": EventType("Access Token Revoked", "An API token was revoked.", severity=5),
    "webhook.created": EventType("Webhook Created", "An organization or stack webhook was "
                                                    "created.", requires_org_admin=True),
    "webhook.updated": EventType("Webhook Updated", "A webhook's settings changed (URL, events, "
                                                    "format, active, secret).",
                                 requires_org_admin=True),
    "webhook.deleted": EventType("Webhook Deleted", "A webhook was deleted.",
                                 requires_org_admin=True),
    "oidc.issuer_registered": EventType("OIDC Issuer Registered", "An OIDC issuer was trusted: "
                                        "its ID tokens may be exchanged as its auth policy "
                                        "allows.", requires_org_admin=True, severity=7),
    "oidc.issuer_updated": EventType("OIDC Issuer Updated", "An OIDC issuer's name, key set, "
                                     "thumbprints or maximum token lifetime changed.",
                                     requires_org_admin=True, severity=5),
    "oidc.issuer_deleted": EventType("OIDC Issuer Deleted", "An OIDC issuer is no longer "
                                     "trusted.", requires_org_admin=True, severity=5),
    "oidc.policy_updated": EventType("OIDC Auth Policy Updated", "The rules deciding which "
                                     "tokens an OIDC issuer's ID tokens are exchanged for "
                                     "changed.", requires_org_admin=True, severity=7),
    "oidc.token_exchanged": EventType("OIDC Token Exchanged", "An ID token of a trusted issuer "
                                      "was exchanged for an access token (its id, never the "
                                      "token).", severity=5),
    "oidc.exchange_refused": EventType("OIDC Token Exchange Refused", "A genuine ID token of a "
                                       "trusted issuer was refused by the issuer's auth "
                                       "policy.", authentication_failure=True, severity=5),
    "team.created": EventType("Team Created", "A team was created.", requires_org_admin=True),
    "team.deleted": EventType("Team Deleted", "A team was deleted (its grants went, its tokens "
                              "were revoked).", requires_org_admin=True, severity=5),
    "team.updated": EventType("Team Updated", "A team's display name or description changed.",
                              requires_org_admin=True),
    "team.members_changed": EventType("Team Members Changed", "A member was added to or removed "
                                      "from a team, or promoted or demoted in it.",
                                      requires_org_admin=True, severity=5),
    "stack.permission_changed": EventType("Stack Permission Changed", "A team's permission on a "
                                          "stack was granted, changed or removed.",
                                          requires_stack_admin=True, severity=5),
    "audit.pruned": EventType("Audit Log Pruned", "Records older than a date were removed as a "
                                                  "recorded cut: the chain still verifies.",
                              requires_org_admin=True, severity=7),
    "auth.failure_burst": EventType("Failed Authentication Burst", "A client reached the limit "
                                    "of failed authentications (AUTH_FAIL_LIMIT) and is refused "
                                    "until its window ends.", authentication_failure=True,
                                    severity=7),
    "auth.forbidden": EventType("Admin Action Forbidden", "A caller without the admin role was "
                                "refused an admin-only action.", requires_org_admin=True,
                                authentication_failure=True, severity=5),
}


# --- writing ----------------------------------------------------------------------------------------

def _clip(value):
    value = (value or "")[:MAX_TEXT]
    # PostgreSQL text holds neither NUL nor a lone surrogate.
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def record(conn, actor, org, event, target, description, *, cut=None):
    """Append one record to `org`'s chain (SERVICE_CHAIN for none) in the caller's transaction,
    which it then holds the chain's head until it ends: call it last in a transaction. `cut`:
    (cut_before_seq, cut_anchor) of an `audit.pruned` record."""
    assert event in EVENT_TYPES, event
    head = queries.lock_chain_head(conn, org_name=org, genesis=GENESIS)
    row = {
        "org_name": org,
        "seq": head["seq"] + 1,
        "at": head["at"],
        "event": event,
        "actor_login": _clip(actor.login),
        "actor_name": _clip(actor.name),
        "token_id": actor.token_id,
        "source_ip": _clip(actor.source_ip),
        "user_agent": _clip(actor.user_agent),
        "target": _clip(target),
        "description": _clip(description),
        "cut_before_seq": cut[0] if cut else None,
        "cut_anchor": cut[1] if cut else None,
        "prev_hash": bytes(head["hash"]),
    }
    row["hash"] = content_hash(row)
    queries.append_record(conn, **row)
    return row


def content_hash(row):
    """SHA-256 of a record's canonical content: every stored field but the hash itself (the
    previous record's hash included, which makes the chain), as sorted, compact JSON."""
    canonical = {
        "v": 1,
        "org": row["org_name"],
        "seq": row["seq"],
        "at": row["at"].astimezone(timezone.utc).isoformat(timespec="microseconds"),
        "event": row["event"],
        "actorLogin": row["actor_login"],
        "actorName": row["actor_name"],
        "tokenId": row["token_id"],
        "sourceIP": row["source_ip"],
        "userAgent": row["user_agent"],
        "target": row["target"],
        "description": row["description"],
        "cutBeforeSeq": row["cut_before_seq"],
        "cutAnchor": bytes(row["cut_anchor"]).hex() if row["cut_anchor"] is not None else None,
        "prevHash": bytes(row["prev_hash"]).hex(),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def record_failure_burst(conn, actor, org, limit):
    """A client's failed authentications reached `limit`: recorded once per client and window."""
    found = queries.auth_failures_of_client(conn, client=actor.source_ip)
    if found is None or found["failures"] < limit:
        return None
    head_org = org or SERVICE_CHAIN
    # Looked for under the chain head's lock, so that two requests failing at once record one
    # burst between them.
    queries.lock_chain_head(conn, org_name=head_org, genesis=GENESIS)
    if queries.burst_recorded(conn, client=actor.source_ip, window_start=found["window_start"]):
        return None
    return record(conn, actor, head_org, "auth.failure_burst", actor.source_ip,
                  f"{found['failures']} failed authentications from {actor.source_ip} since "
                  f"{found['window_start']:%Y-%m-%d %H:%M:%S} UTC; refused until the window ends")


# --- reading ----------------------------------------------------------------------------------------

def list_records(conn, org, *, event=None, login=None, start_time=None, end_time=None,
                 before_seq=None, page_size=100):
    """A page of `org`'s records, newest first, and the continuation (the last seq listed, or
    None when this page is the last)."""
    rows = list(queries.list_records(
        conn, org_name=org, event=event, login=login, start_time=start_time, end_time=end_time,
        before_seq=before_seq if before_seq is not None else 2 ** 62, page_size=page_size + 1))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return rows, (rows[-1]["seq"] if more else None)


# --- verifying and pruning -------------------------------------------------------------------------

@dataclasses.dataclass
class Broken:
    org: str
    seq: int | None
    record_id: int | None
    reason: str

    def __str__(self):
        where = f"record {self.seq} (id {self.record_id})" if self.seq is not None else "its head"
        return f"organization {self.org!r}: {where}: {self.reason}"


def verify(conn, org=None):
    """Walk every chain (or `org`'s): ([(org, records checked)], the first broken link or None)."""
    checked = []
    for chain in list(queries.chain_heads(conn, org_name=org)):
        count, broken = _verify_chain(conn, chain)
        checked.append((chain["org_name"], count))
        if broken is not None:
            return checked, broken
    return checked, None


def _verify_chain(conn, chain):
    name = chain["org_name"]
    prev = None
    count = 0
    cuts = {}  # cut_before_seq -> anchor, of the cut records seen
    first = None
    for row in queries.chain_records(conn, org_name=name):
        count += 1
        seq, prev_hash = row["seq"], bytes(row["prev_hash"])
        if content_hash(row) != bytes(row["hash"]):
            return count, Broken(name, seq, row["id"], "its content does not match its hash "
                                                      "(the record was edited)")
        if prev is None:
            first = row
        elif seq != prev["seq"] + 1:
            return count, Broken(name, seq, row["id"], f"records {prev['seq'] + 1} to {seq - 1} "
                                                      "are missing")
        elif prev_hash != bytes(prev["hash"]):
            return count, Broken(name, seq, row["id"], "it does not name the record before it "
                                                      f"({prev['seq']}) as its predecessor")
        if row["cut_before_seq"] is not None:
            cuts[row["cut_before_seq"]] = bytes(row["cut_anchor"] or b"")
        prev = row
    if first is not None and first["seq"] == 1 and bytes(first["prev_hash"]) != GENESIS:
        return count, Broken(name, 1, first["id"], "the first record does not start the chain")
    if first is not None and first["seq"] != 1:
        # A chain that does not start at its beginning must start exactly at a recorded cut.
        anchor = cuts.get(first["seq"])
        if anchor is None:
            return count, Broken(name, first["seq"], first["id"],
                                 f"the chain starts at record {first['seq']} without a recorded cut")
        if anchor != bytes(first["prev_hash"]):
            return count, Broken(name, first["seq"], first["id"],
                                 "it does not follow the recorded cut's last removed record")
    last_seq = prev["seq"] if prev is not None else 0
    last_hash = bytes(prev["hash"]) if prev is not None else GENESIS
    if chain["seq"] is None:
        return count, Broken(name, None, None, "the chain has no head")
    if chain["seq"] != last_seq or bytes(chain["hash"]) != last_hash:
        return count, Broken(name, None, None, f"the head names record {chain['seq']}, the last "
                                               f"record is {last_seq} (records were removed)")
    return count, None


def prune(conn, actor, org, before):
    """Remove `org`'s records older than `before` as a recorded cut: an `audit.pruned` record
    (kept, at the end of the chain) says where the chain now starts and what preceded it, so that
    verify still passes. Returns the number of records removed."""
    head = queries.lock_chain_head(conn, org_name=org, genesis=GENESIS)
    cut_before = queries.first_seq_from(conn, org_name=org, before=before)
    if cut_before is None:
        cut_before = head["seq"] + 1  # every record is older: the cut record starts the chain
    kept_before = queries.record_at_seq(conn, org_name=org, seq=cut_before - 1)
    if kept_before is None:
        return 0  # nothing (left) before the cut
    first_present = queries.first_seq(conn, org_name=org)
    removed = cut_before - first_present
    record(conn, actor, org, "audit.pruned", org,
           f"removed records {first_present} to {cut_before - 1} (older than "
           f"{before.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC); the chain continues at "
           f"record {cut_before}",
           cut=(cut_before, bytes(kept_before["hash"])))
    queries.delete_below_cut(conn, org_name=org, cut_before_seq=cut_before)
    return removed
