"""Every setting of the service, read once from the environment, with its default."""
import os


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _bool(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    def __init__(self, **overrides):
        # PostgreSQL connection string; unset means the embedded default (see app/embedded.py).
        self.DATABASE_URL = os.environ.get("DATABASE_URL", "")
        # Connections per worker process.
        self.DB_POOL_MIN = _int("DB_POOL_MIN", 1)
        self.DB_POOL_MAX = _int("DB_POOL_MAX", 10)
        # Idle connections past DB_POOL_MIN are closed after this long unused (seconds); the
        # others stay open for the next requests (a new connection costs a PostgreSQL backend).
        self.DB_POOL_IDLE_SECONDS = _int("DB_POOL_IDLE_SECONDS", 60)
        # Run the named queries as server-side prepared statements, planned once per connection.
        # Turn off behind a pooler that does not keep a session per client (pgbouncer in
        # transaction mode).
        self.DB_PREPARED_STATEMENTS = _bool("DB_PREPARED_STATEMENTS", True)
        # How long a request waits for a free connection before answering 503 (seconds).
        self.DB_POOL_TIMEOUT = _int("DB_POOL_TIMEOUT", 30)
        # Apply pending migrations when a worker starts (under an advisory lock).
        self.AUTO_MIGRATE = _bool("AUTO_MIGRATE", True)
        # Largest request body accepted, compressed or not (bytes). Checkpoints reach 100+ MB.
        self.MAX_BODY_BYTES = _int("MAX_BODY_BYTES", 256 * 1024 * 1024)
        # A deleted stack stays restorable (GET/POST /api/orgs/{org}/restore-stack) this many
        # days, with its history, state and secrets key; then the worker purges it for good.
        # 0: deleted stacks are not restorable and go at the worker's next purge.
        self.STACK_RETENTION_DAYS = _int("STACK_RETENTION_DAYS", 30)
        # How often the worker looks for deleted stacks past their retention (seconds).
        self.STACK_PURGE_INTERVAL_SECONDS = _int("STACK_PURGE_INTERVAL_SECONDS", 3600)
        # Page size of GET /api/user/stacks.
        self.STACK_PAGE_SIZE = _int("STACK_PAGE_SIZE", 100)
        # Lease of an update token, and how long past expiry an update counts as abandoned.
        # The real CLI assumes a 5-minute lease whatever it is granted and renews only once
        # 2.5 minutes (plus up to ~40 s) have gone by: below ~190 s an update that runs longer
        # than the lease loses it (its checkpoints get 403 and it fails).
        self.LEASE_SECONDS = _int("LEASE_SECONDS", 300)
        self.ABANDONED_AFTER_SECONDS = _int("ABANDONED_AFTER_SECONDS", 600)
        # Page size of GET .../update/{id}/events.
        self.EVENTS_PAGE_SIZE = _int("EVENTS_PAGE_SIZE", 500)
        # Proxies in front of the service whose X-Forwarded-For/-Proto/-Host are believed (nginx
        # alone: 1). 0 trusts none of these headers, so a client cannot spoof its address.
        self.TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
        # Level of the service's log lines (JSON, one per line on stderr; the access log on stdout).
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
        # GET /metrics (Prometheus). With METRICS_TOKEN set, scrapes must send
        # `Authorization: Bearer <token>`; unset, anyone who reaches the port may scrape.
        self.METRICS_ENABLED = _bool("METRICS_ENABLED", True)
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
        # Secrets (see app/secrets.py and the README's "Secrets"). The master key that wraps every
        # stack's data key: the standard base64 of 32 random bytes, inline or in a file (one of
        # the two is required; `pulumi-service serve` with the embedded database makes a file).
        self.SECRETS_MASTER_KEY = os.environ.get("SECRETS_MASTER_KEY", "")
        self.SECRETS_MASTER_KEY_FILE = os.environ.get("SECRETS_MASTER_KEY_FILE", "")
        # Further master keys accepted for unwrapping only (comma or space separated): the old
        # key, or the next one, while a rotation is rolled out.
        self.SECRETS_PREVIOUS_MASTER_KEYS = os.environ.get("SECRETS_PREVIOUS_MASTER_KEYS", "")
        # Let viewers decrypt (by default reading secret plaintexts needs `member`).
        self.SECRETS_VIEWERS_CAN_DECRYPT = _bool("SECRETS_VIEWERS_CAN_DECRYPT", False)
        # The largest ESC environment definition accepted (bytes of YAML); larger ones get 413.
        self.ESC_MAX_DEFINITION_BYTES = _int("ESC_MAX_DEFINITION_BYTES", 1024 * 1024)
        # Most values in one batch-encrypt/batch-decrypt call (the CLI sends at most 1000).
        self.SECRETS_MAX_BATCH = _int("SECRETS_MAX_BATCH", 10000)
        # Largest plaintext accepted, in bytes (ciphertexts may be larger by the format's overhead).
        self.SECRETS_MAX_VALUE_BYTES = _int("SECRETS_MAX_VALUE_BYTES", 1024 * 1024)
        # Advertise the batch-encrypt capability (off: the CLI encrypts one value per call).
        self.SECRETS_BATCH_ENCRYPT = _bool("SECRETS_BATCH_ENCRYPT", True)
        # Seconds to wait for a new database connection, and the longest a statement may run
        # (ms, 0 = no limit): with the database gone, requests fail with 503 instead of hanging.
        self.DB_CONNECT_TIMEOUT = _int("DB_CONNECT_TIMEOUT", 5)
        self.DB_STATEMENT_TIMEOUT_MS = _int("DB_STATEMENT_TIMEOUT_MS", 120_000)
        # Failed authentications (unknown, revoked or malformed credentials) one client address
        # may make in a window before every authenticated request from it gets 429 with
        # Retry-After until the window is over. AUTH_FAIL_LIMIT=0 turns this off.
        self.AUTH_FAIL_LIMIT = _int("AUTH_FAIL_LIMIT", 30)
        self.AUTH_FAIL_WINDOW_SECONDS = _int("AUTH_FAIL_WINDOW_SECONDS", 60)
        # How the CLI may send an update's state (each can be turned off; with both off it sends
        # the whole state after every step). Journaling: journal entries, replayed by the service
        # (the CLI asks for it by default). Delta checkpoints: the state's text once, then edits
        # of it, for states of at least DELTA_CHECKPOINT_CUTOFF_BYTES (the CLI uses them only
        # when journaling is off: PULUMI_DISABLE_JOURNALING=true).
        self.JOURNALING_ENABLED = _bool("JOURNALING_ENABLED", True)
        self.DELTA_CHECKPOINTS_ENABLED = _bool("DELTA_CHECKPOINTS_ENABLED", True)
        # Advertise GET .../outputs: StackReference and `pulumi stack output` then read a stack's
        # outputs without downloading its whole state.
        self.STACK_OUTPUTS_ENABLED = _bool("STACK_OUTPUTS_ENABLED", True)
        # Advertise POST .../begin-update: the CLI creates and starts an update in one request and
        # gets the stack and its state with it (when the state is at most
        # BEGIN_UPDATE_STATE_MAX_BYTES; a larger one the CLI exports, compressed, as before).
        self.BEGIN_UPDATE_ENABLED = _bool("BEGIN_UPDATE_ENABLED", True)
        self.BEGIN_UPDATE_STATE_MAX_BYTES = _int("BEGIN_UPDATE_STATE_MAX_BYTES", 4 * 1024 * 1024)
        self.DELTA_CHECKPOINT_CUTOFF_BYTES = _int("DELTA_CHECKPOINT_CUTOFF_BYTES", 64 * 1024)
        # Delta saves are appended; every CHECKPOINT_COMPACT_EVERY of them the state is rewritten
        # whole. Each worker keeps the texts it saved last, up to CHECKPOINT_TEXT_CACHE_BYTES.
        self.CHECKPOINT_COMPACT_EVERY = _int("CHECKPOINT_COMPACT_EVERY", 64)
        self.CHECKPOINT_TEXT_CACHE_BYTES = _int("CHECKPOINT_TEXT_CACHE_BYTES", 256 * 1024 * 1024)
        # Largest journal batch accepted (entries, bytes once decompressed): larger ones get 413,
        # which makes the CLI split them. The CLI batches at most 100 entries.
        self.JOURNAL_MAX_BATCH_ENTRIES = _int("JOURNAL_MAX_BATCH_ENTRIES", 1000)
        self.JOURNAL_MAX_BATCH_BYTES = _int("JOURNAL_MAX_BATCH_BYTES", 64 * 1024 * 1024)
        # State blobs (app/blobs.py): finished versions whose compressed state is at least
        # BLOB_STORE_MIN_BYTES go to s3://bucket/prefix; unset, everything stays in PostgreSQL.
        # Endpoint, region and credentials: these or the usual AWS variables.
        self.BLOB_STORE_URL = os.environ.get("BLOB_STORE_URL", "")
        self.BLOB_STORE_ENDPOINT = (os.environ.get("BLOB_STORE_ENDPOINT")
                                    or os.environ.get("AWS_ENDPOINT_URL_S3")
                                    or os.environ.get("AWS_ENDPOINT_URL") or "")
        self.BLOB_STORE_REGION = (os.environ.get("BLOB_STORE_REGION")
                                  or os.environ.get("AWS_REGION")
                                  or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        self.BLOB_STORE_MIN_BYTES = _int("BLOB_STORE_MIN_BYTES", 16 * 1024)
        self.BLOB_STORE_TIMEOUT_SECONDS = _int("BLOB_STORE_TIMEOUT_SECONDS", 10)
        # The worker deletes objects no row names once they are older than the grace period
        # (longer than any request that writes an object and then commits the row naming it).
        self.BLOB_GC_GRACE_SECONDS = _int("BLOB_GC_GRACE_SECONDS", 6 * 3600)
        self.BLOB_GC_INTERVAL_SECONDS = _int("BLOB_GC_INTERVAL_SECONDS", 600)
        # The web console's address (e.g. https://pulumi.example.com): links in webhook payloads
        # (`updateUrl`) point there. Empty: no console, no links.
        self.CONSOLE_URL = os.environ.get("CONSOLE_URL", "")
        # The web console (app/console) is served by the same app at the paths the CLI prints.
        # The key that signs console session cookies; empty: derived from the secrets master key
        # (so every worker and host agrees without another secret to distribute).
        self.CONSOLE_SECRET_KEY = os.environ.get("CONSOLE_SECRET_KEY", "")
        # How long a console sign-in lasts (hours), and whether its cookie is always `Secure`
        # (it is anyway on a request that arrived over TLS, as X-Forwarded-Proto tells behind a
        # trusted proxy).
        self.CONSOLE_SESSION_HOURS = _int("CONSOLE_SESSION_HOURS", 12)
        self.CONSOLE_COOKIE_SECURE = _bool("CONSOLE_COOKIE_SECURE", False)
        # Webhook deliveries (app/webhooks.py, `pulumi-service worker`). Each attempt waits at
        # most WEBHOOK_TIMEOUT_SECONDS; a failed event is retried up to WEBHOOK_MAX_ATTEMPTS times
        # in all, WEBHOOK_RETRY_BASE_SECONDS * 2**(n-1) apart (plus up to 50 % jitter): the
        # defaults spread 6 attempts over about an hour.
        self.WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS") or 10)
        self.WEBHOOK_MAX_ATTEMPTS = _int("WEBHOOK_MAX_ATTEMPTS", 6)
        self.WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS")
                                                or 120)
        # Payload URLs may only reach public addresses (checked after DNS resolution, when
        # sending too; redirects are not followed). Networks listed here (CIDRs, comma or space
        # separated, e.g. 10.0.0.0/8) are allowed as well.
        self.WEBHOOK_ALLOWED_NETWORKS = os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "")
        # Bytes of a receiver's response body kept with each delivery.
        self.WEBHOOK_RESPONSE_BODY_BYTES = _int("WEBHOOK_RESPONSE_BODY_BYTES", 4096)
        # Deliveries one worker process sends at once, and how often it looks for due retries
        # when no new event wakes it (seconds).
        self.WEBHOOK_WORKER_THREADS = _int("WEBHOOK_WORKER_THREADS", 4)
        self.WEBHOOK_POLL_SECONDS = float(os.environ.get("WEBHOOK_POLL_SECONDS") or 5)
        # `pulumi-service serve` starts one delivery worker beside gunicorn (off: run
        # `pulumi-service worker` yourself, on as many hosts as you like).
        self.WEBHOOK_WORKER_IN_SERVE = _bool("WEBHOOK_WORKER_IN_SERVE", True)
        # OIDC token exchange (POST /api/oauth/token, see app/oidc.py). Issuers' discovery
        # documents and key sets are fetched over HTTPS from public addresses only; these two
        # allow plain http and loopback/private addresses (a test issuer, an internal IdP).
        self.OIDC_ALLOW_HTTP = _bool("OIDC_ALLOW_HTTP", False)
        self.OIDC_ALLOW_PRIVATE_NETWORKS = _bool("OIDC_ALLOW_PRIVATE_NETWORKS", False)
        # Timeout of one fetch (seconds); how long a fetched key set is used (seconds); how
        # often at most a token naming an unknown key makes the set be fetched again (seconds).
        self.OIDC_FETCH_TIMEOUT_SECONDS = _int("OIDC_FETCH_TIMEOUT_SECONDS", 5)
        self.OIDC_JWKS_CACHE_SECONDS = _int("OIDC_JWKS_CACHE_SECONDS", 3600)
        self.OIDC_JWKS_REFRESH_SECONDS = _int("OIDC_JWKS_REFRESH_SECONDS", 60)
        # Clock skew tolerated on exp/nbf/iat (seconds), and the longest ID token accepted.
        self.OIDC_CLOCK_SKEW_SECONDS = _int("OIDC_CLOCK_SKEW_SECONDS", 60)
        self.OIDC_MAX_TOKEN_BYTES = _int("OIDC_MAX_TOKEN_BYTES", 16 * 1024)
        for key, value in overrides.items():
            setattr(self, key, value)
