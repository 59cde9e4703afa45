"""Background work run by `pulumi-service worker` (and beside gunicorn by `pulumi-service serve`):
webhook deliveries. Threads each claim one due event at a time (FOR UPDATE SKIP LOCKED, so any
number of workers on any number of hosts share the outbox), send it and record the attempt in
one transaction; a LISTEN connection wakes them when a change queues events, and they look for
due retries at least every WEBHOOK_POLL_SECONDS. A lost database is waited out.
Periodic jobs run under an advisory lock (one worker at a time): the purge of deleted stacks
past STACK_RETENTION_DAYS, every STACK_PURGE_INTERVAL_SECONDS, and the collector of unreferenced
state blobs (`collect_blobs`), every BLOB_GC_INTERVAL_SECONDS."""
import datetime
import logging
import select
import threading

import psycopg2

from . import audit, blobs, stacks, webhooks
from .db import connect, transaction
from .queries import queries

log = logging.getLogger(__name__)

CHANNEL = "webhook_events"
RECONNECT_SECONDS = 1
# Advisory lock keys of the periodic jobs (pg_try_advisory_xact_lock): constants of this service.
PURGE_STACKS_LOCK = 0x50555247  # "PURG"
PURGE_BATCH = 100
WORKER_ACTOR = audit.Actor(name="pulumi-service worker")

# Objects the collector checks and deletes per transaction (under the lock writers wait for).
COLLECT_BATCH = 200


def collect_blobs(database_url, found, grace_seconds):
    """Delete the objects of the blob store `found` that no checkpoint row names and that are
    older than `grace_seconds`, one listed page per transaction. One collector runs at a time on
    any number of hosts (a session advisory lock on its own connection). Returns the number
    deleted, or None when another collector holds the lock."""
    older_than = (datetime.datetime.now(datetime.timezone.utc)
                  - datetime.timedelta(seconds=grace_seconds))
    conn = connect(database_url)
    try:
        with conn:
            if not queries.try_lock_blob_collector(conn):
                return None
        deleted = 0
        for page in found.list(older_than=older_than):
            keys = [key for key, _, _ in page]
            # Small batches: writers of finished versions wait while a batch is deleted.
            for start in range(0, len(keys), COLLECT_BATCH):
                with conn:
                    deleted += blobs.collect_page(conn, found, keys[start:start + COLLECT_BATCH])
        if deleted:
            log.info("blob collector: %d unreferenced object(s) deleted", deleted)
        return deleted
    finally:
        conn.close()  # and with it the session's lock


class Worker:
    def __init__(self, app):
        self.app = app
        self.config = app.config
        self.stopping = threading.Event()
        self.wake = threading.Condition()
        self.threads = []

    # --- waking ------------------------------------------------------------------------------

    def _nudge(self):
        with self.wake:
            self.wake.notify_all()

    def _listen(self):
        """Wake the senders on every NOTIFY (sent when a change that queued events commits)."""
        while not self.stopping.is_set():
            conn = None
            try:
                conn = connect(self.config["DATABASE_URL"])
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                self._nudge()  # events may have been queued while not listening
                while not self.stopping.is_set():
                    if select.select([conn], [], [], 1)[0]:
                        conn.poll()
                        if conn.notifies:
                            conn.notifies.clear()
                            self._nudge()
            except psycopg2.Error as err:
                log.warning("webhook worker: listening failed (%s); retrying", err)
                self.stopping.wait(RECONNECT_SECONDS)
            finally:
                if conn is not None:
                    conn.close()

    # --- sending -----------------------------------------------------------------------------

    def deliver_one(self):
        """Send the next due event; False when none was due."""
        with self.app.app_context():
            with transaction() as conn:
                return webhooks.deliver_due(conn)

    def _idle_seconds(self):
        with self.app.app_context():
            with transaction() as conn:
                due = queries.next_due_in(conn)["seconds"]
        poll = self.config["WEBHOOK_POLL_SECONDS"]
        return poll if due is None else min(poll, max(float(due), 0.01))

    def _send(self):
        while not self.stopping.is_set():
            try:
                if self.deliver_one():
                    continue
                idle = self._idle_seconds()
            except Exception:  # the database went away, or a defect: never stop sending
                log.exception("webhook worker: a delivery failed; retrying")
                self.stopping.wait(RECONNECT_SECONDS)
                continue
            with self.wake:
                self.wake.wait(idle)

    # --- collecting unreferenced blobs ----------------------------------------------------------

    def _collect(self):
        while not self.stopping.wait(self.config["BLOB_GC_INTERVAL_SECONDS"]):
            try:
                collect_blobs(self.config["DATABASE_URL"], self.app.extensions["blob_store"],
                              self.config["BLOB_GC_GRACE_SECONDS"])
            except Exception:  # the store or the database went away: try again next time
                log.exception("blob collector: a run failed")

    # --- periodic jobs -----------------------------------------------------------------------

    def purge_deleted_stacks(self):
        """Remove the deleted stacks past their retention, in batches of one transaction each
        (each purge recorded in its organization's audit log); returns how many went. Nothing
        when another worker holds the job's lock."""
        purged = 0
        with self.app.app_context():
            while True:
                with transaction() as conn:
                    if not queries.try_job_lock(conn, job_key=PURGE_STACKS_LOCK):
                        return purged
                    rows = stacks.purge_deleted(conn, self.config["STACK_RETENTION_DAYS"],
                                                PURGE_BATCH)
                    for row in rows:
                        ref = f"{row['org_name']}/{row['project_name']}/{row['stack_name']}"
                        audit.record(conn, WORKER_ACTOR, row["org_name"], "stack.purged", ref,
                                     f"purged stack {ref}, deleted "
                                     f"{row['deleted_at']:%Y-%m-%d %H:%M:%S} UTC")
                purged += len(rows)
                if len(rows) < PURGE_BATCH:
                    return purged

    def _periodic(self):
        while not self.stopping.is_set():
            try:
                count = self.purge_deleted_stacks()
                if count:
                    log.info("worker: purged %d deleted stack(s)", count)
            except Exception:  # the database went away, or a defect: try again next time
                log.exception("worker: purging deleted stacks failed")
            self.stopping.wait(max(self.config["STACK_PURGE_INTERVAL_SECONDS"], 1))

    # --- running -----------------------------------------------------------------------------

    def start(self):
        count = max(self.config["WEBHOOK_WORKER_THREADS"], 1)
        targets = [self._listen, self._periodic] + [self._send] * count
        if self.app.extensions.get("blob_store") is not None:
            targets.append(self._collect)
        for n, target in enumerate(targets):
            thread = threading.Thread(target=target, name=f"webhook-worker-{n}", daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info("webhook worker: %d sender thread(s)", count)
        return self

    def stop(self, timeout=None):
        """Finish the deliveries under way, then stop."""
        self.stopping.set()
        self._nudge()
        for thread in self.threads:
            thread.join(timeout)
