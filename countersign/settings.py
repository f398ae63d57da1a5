"""Countersign settings: one file, every knob from the environment.

The defaults run the demo on SQLite with no configuration at all. Every variable is listed,
with its default, in docs/settings.md and .env.example. The helpers fail loudly on a value they
cannot read, instead of quietly falling back to a default.
"""

import hashlib
import ipaddress
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default).strip()
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def envseconds(name: str, default: str) -> float:
    """A positive number of seconds."""
    value = os.environ.get(name, default).strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ImproperlyConfigured(f"{name}={value!r} is not a positive number of seconds")
    return seconds


def envlist(name: str, default: str, separator: str = ",") -> list[str]:
    items = os.environ.get(name, default).split(separator)
    return [item.strip() for item in items if item.strip()]


def envnetworks(name: str, default: str) -> list[str]:
    """IP networks (CIDR) or single addresses, comma-separated, each checked."""
    networks = []
    for item in envlist(name, default):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network "
                                       "(e.g. 10.0.0.5 or 10.0.0.0/24)") from None
    return networks


DEBUG = envbool("DEBUG", "true")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-demo-key-only-for-DEBUG-on-a-developer-machine"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "countersign",
    "audit",
    "roster",
    "campaigns",
    "web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Production serves collectstatic's output itself; with DEBUG, runserver serves /static/.
    *([] if DEBUG else ["whitenoise.middleware.WhiteNoiseMiddleware"]),
    "countersign.middleware.ContentSecurityPolicy",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "countersign.two_factor.SecondFactorGate",
    "countersign.accounts.ActorMiddleware",
    "countersign.accounts.NewPasswordGate",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "countersign.wsgi.application"
AUTH_USER_MODEL = "countersign.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "countersign.context_processors.roles_context",
                "countersign.clock.context",
                "campaigns.context_processors.notifications",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite is the zero-set-up default; PostgreSQL (DATABASE_URL=postgres://...) is production.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", "0"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write at the same time. WAL lets readers go on while
    # one writes; BEGIN IMMEDIATE takes the write lock at the start of every transaction,
    # so a second writer waits (up to the timeout) instead of failing half-way with
    # "database is locked" when it tries to upgrade a read lock. secure_delete: erased
    # member data is overwritten in the file, not left in its free pages. synchronous=FULL:
    # every commit is on disk before it returns (NORMAL, in WAL mode, may lose the last
    # commits to a power cut: a claim lost after its message was handed over would send that
    # message again; the audit log's last entries would go too). About 0.15 ms a commit.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                        "PRAGMA secure_delete=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests that run threads or processes need a real file (WAL, busy waiting), not
    # Django's shared in-memory database; one file per checkout.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(
            tempfile.gettempdir(),
            f"countersign-test-{hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:12]}.sqlite3",
        )
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Passwords and sessions ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Two-step sign-in (TOTP, countersign/two_factor.py). Anyone may turn it on for their own
# account; users holding one of these roles must, before they can open any other page.
# Example for production: "supervisor,observer" (the two countersignatures).
TOTP_REQUIRED_ROLES = envlist("TOTP_REQUIRED_ROLES", "")
OTP_TOTP_ISSUER = "Countersign"
# The admin never shows a two-step secret or its QR code (whoever sees it can give codes).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(8 * 3600))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one user
# from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", "60"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# No "AXES: BEGIN ..." banner before every command's own output (lockouts are still logged).
AXES_VERBOSE = False
# The client address, for the lockout and the audit log (countersign.security.client_address):
# X-Forwarded-For is read only from a request whose REMOTE_ADDR is one of these reverse
# proxies (addresses or CIDR networks). Anyone else is their own REMOTE_ADDR, whatever header
# they send, so a client that reaches the app directly cannot lock out someone else's address.
TRUSTED_PROXIES = envnetworks("TRUSTED_PROXIES", "")
if "PROXY_COUNT" in os.environ:
    # It trusted the header from anyone; an installation that still sets it must say which
    # proxies to trust instead of quietly keying every lockout on the proxy's address.
    raise ImproperlyConfigured("PROXY_COUNT is replaced by TRUSTED_PROXIES: unset it and list "
                               "your reverse proxies' addresses, e.g. TRUSTED_PROXIES=10.0.0.5")
AXES_CLIENT_IP_CALLABLE = "countersign.security.client_address"

# --- Security headers (production: DEBUG off, behind a TLS-terminating proxy) ---------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false" if DEBUG else "true")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD",
                                                               "false" if DEBUG else "true")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every script and style comes from this app (no CDN, no inline script); the HTML previews
# are sandboxed srcdoc frames. Inline style attributes only set widths (progress bars).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)

# --- Language and time ----------------------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
# Dates and times read one way per language (countersign/formats).
FORMAT_MODULE_PATH = ["countersign.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
# WhiteNoise serves the collected, fingerprinted files in production (no CDN, no extra server).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail -----------------------------------------------------------------------------------
# Default: the local mail catcher that `manage.py demo` starts (`manage.py mailcatcher`).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = envint("EMAIL_PORT", "1025")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", "false")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", "30")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "countersign@localhost")
# Mails' Date header in TIME_ZONE (+0900), as every page shows time, not in UTC (-0000).
EMAIL_USE_LOCALTIME = True

# Where the demo mail catcher keeps what it caught (one .eml file per message), and whether
# the app shows that inbox (/mailbox/): on for the demo, never on a real installation.
MAILCATCHER_DIR = Path(os.environ.get("MAILCATCHER_DIR", str(BASE_DIR / "var" / "mail")))
MAILCATCHER_INBOX = envbool("MAILCATCHER_INBOX", "true" if DEBUG else "false")

# --- Roster import ----------------------------------------------------------------------------
ROSTER_MAX_BYTES = envint("ROSTER_MAX_BYTES", str(20 * 1024 * 1024))
ROSTER_MAX_ROWS = envint("ROSTER_MAX_ROWS", "200000")
ROSTER_MAX_COLUMNS = envint("ROSTER_MAX_COLUMNS", "100")
# How long a checked upload waits for the operator's confirmation before it is thrown away.
ROSTER_UPLOAD_TTL_MINUTES = envint("ROSTER_UPLOAD_TTL_MINUTES", "60")

DATA_UPLOAD_MAX_MEMORY_SIZE = ROSTER_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Campaigns ----------------------------------------------------------------------------------
# The only sender addresses a campaign may use, separated by ";" (a display name may hold
# commas). The operator picks one; there is no free-text sender.
CAMPAIGN_SENDERS = envlist(
    "CAMPAIGN_SENDERS", "会員サポート <members@association.example>", separator=";"
)
# A supervisor's approval goes stale after this long: release needs a fresh review.
APPROVAL_TTL_HOURS = envint("APPROVAL_TTL_HOURS", "72")
# The observer's release is live: sending must start within this window or be released again.
RELEASE_WINDOW_MINUTES = envint("RELEASE_WINDOW_MINUTES", "15")
# Member numbers shorter than this are too ambiguous (years, quantities) for the content
# guard to flag on their own.
GUARD_MIN_NUMBER_LENGTH = envint("GUARD_MIN_NUMBER_LENGTH", "4")
# Link parameters whose values may be any constant (campaign tracking, a language); every
# other query value must be a placeholder or at most 16 characters (campaigns.opaque).
GUARD_LINK_PARAMETERS = envlist(
    "GUARD_LINK_PARAMETERS", "utm_source,utm_medium,utm_campaign,utm_content,utm_term,lang")
# Links whose own form is an opaque id (a meeting's link, a form's): under these host/path
# prefixes (a subdomain counts) the path and query are not judged as encoded runs. The
# signers see every such link in full on their pages.
GUARD_OPAQUE_LINK_PREFIXES = envlist(
    "GUARD_OPAQUE_LINK_PREFIXES", "zoom.us/j/,docs.google.com/forms/,forms.gle/")

# Links a campaign may carry, by domain (a subdomain counts), separated by ",". Empty: any
# domain; the signers still see every link. A link elsewhere is refused at submit and send.
CAMPAIGN_LINK_DOMAINS = envlist("CAMPAIGN_LINK_DOMAINS", "")
# Member data (names, addresses, extra columns) is erased this many days after the last
# campaign using a roster completed, stopped or was cancelled, or after the import for a
# roster no campaign uses (purge_rosters, daily). Pseudonyms, counts and hashes stay.
ROSTER_RETENTION_DAYS = envint("ROSTER_RETENTION_DAYS", "30")
# How long the contractor keeps backups of the database: until they expire, a purged roster's
# ciphertext survives in them (opening only with a key the backup does not hold). Stated on
# deletion certificates, and when the association may destroy a retired key.
BACKUP_RETENTION_DAYS = envint("BACKUP_RETENTION_DAYS", "30")
# Size limits: over one is an error on the form (and the workflow refuses it too).
CAMPAIGN_MAX_SUBJECT_CHARS = envint("CAMPAIGN_MAX_SUBJECT_CHARS", "200")
CAMPAIGN_MAX_BODY_CHARS = envint("CAMPAIGN_MAX_BODY_CHARS", "50000")
CAMPAIGN_MAX_HTML_CHARS = envint("CAMPAIGN_MAX_HTML_CHARS", "100000")
# Extra roster columns (for placeholders): how many, and how much text per member in all.
ROSTER_MAX_EXTRA_COLUMNS = envint("ROSTER_MAX_EXTRA_COLUMNS", "30")
ROSTER_MAX_EXTRA_CHARS = envint("ROSTER_MAX_EXTRA_CHARS", "4000")

# The audit chain's head (an anchor) is mailed to the association's observers this often,
# and after every completed or stopped campaign.
AUDIT_ANCHOR_HOURS = envint("AUDIT_ANCHOR_HOURS", "24")

# The key of the pseudonyms kept instead of member addresses (suppression list, the ledger
# after a purge): HMAC-SHA256 of the normalised address. Set it on its own and never change
# it: a new key makes every suppression unrecognisable. Unset: derived from SECRET_KEY.
MEMBER_PSEUDONYM_KEY = os.environ.get("MEMBER_PSEUDONYM_KEY", "") or hashlib.sha256(
    f"countersign-pseudonym:{SECRET_KEY}".encode()).hexdigest()
# The installation's key of the rosters' data keys (roster.data_keys): each roster's members
# are encrypted under a key of its own, stored wrapped under this one. Keep it out of the
# database and its backups (a secrets store, an environment file): a dump alone is then
# ciphertext. Changing it makes every roster unreadable. Unset: derived from SECRET_KEY.
MEMBER_DATA_KEY = os.environ.get("MEMBER_DATA_KEY", "") or hashlib.sha256(
    f"countersign-member-data:{SECRET_KEY}".encode()).hexdigest()
# Once the association has registered its key, new rosters' data keys are held by it alone (no
# contractor's copy): their members open only in a worker the association gave the key for one
# release (campaigns.key_window). Off: the contractor keeps a wrapped copy, as before.
ROSTER_KEYS_WITH_ASSOCIATION = envbool("ROSTER_KEYS_WITH_ASSOCIATION", "true")
# How long a release's grant lets the workers hold such a roster's key at most (the campaign's
# send-before deadline, if sooner), and how recently a worker must have been seen to be granted.
GRANT_HOURS = envint("GRANT_HOURS", "12")
WORKER_KEY_LIVE_HOURS = envint("WORKER_KEY_LIVE_HOURS", "24")
# The few members of such a roster the association may let previews and test messages show
# for real (roster.previews): at most this many at a time, for at most this many days.
PREVIEW_MAX_MEMBERS = envint("PREVIEW_MAX_MEMBERS", "5")
PREVIEW_MAX_DAYS = envint("PREVIEW_MAX_DAYS", "7")
# The key of the content guard's tags of purged rosters' values (campaigns.guard_tags): a
# key of its own, so that neither the pseudonyms' key nor SECRET_KEY opens them.
GUARD_TAG_KEY = os.environ.get("GUARD_TAG_KEY", "") or hashlib.sha256(
    f"countersign-guard-tags:{SECRET_KEY}".encode()).hexdigest()
# How long the guard keeps recognising a purged roster's values (keyed tags only): a
# contractor who kept the file cannot mail it for this long. Stated on the certificate.
GUARD_TAGS_KEEP_DAYS = envint("GUARD_TAGS_KEEP_DAYS", "365")

# Newsletters must say who sends them, from where, and how to reach them (a footer the
# workflow checks at submit), and carry an unsubscribe link. The mailto: of the
# List-Unsubscribe header goes to UNSUBSCRIBE_MAILTO (empty: unsubscribe@BOUNCE_DOMAIN, read
# by process_bounces; without a bounce domain, unsubscribe@ the sender's domain).
ASSOCIATION_NAME = os.environ.get("ASSOCIATION_NAME", "一般社団法人 サンプル会員協会")
ASSOCIATION_POSTAL_ADDRESS = os.environ.get("ASSOCIATION_POSTAL_ADDRESS",
                                            "〒100-0001 東京都千代田区千代田1-1")
ASSOCIATION_CONTACT = os.environ.get("ASSOCIATION_CONTACT", "members@association.example")
UNSUBSCRIBE_MAILTO = os.environ.get("UNSUBSCRIBE_MAILTO", "")

# --- Sender authentication before release (campaigns.sender_auth, docs/deployment.md) --------
# SPF, DKIM and DMARC of the From and bounce domains are read from DNS for the signers, and a
# hard failure refuses the release unless the observer overrides it in writing. On unless
# DEBUG (the demo's association.example has no DNS to read).
SENDER_CHECK = envbool("SENDER_CHECK", "false" if DEBUG else "true")
# The relay's public addresses, as receivers see them: SPF must allow each (empty: SPF is
# checked for being published only).
RELAY_ADDRESSES = envlist("RELAY_ADDRESSES", "")
# The selector the relay signs with, and optionally the SHA-256 of its public key (DER; see
# docs/deployment.md): the key published under the From domain must be that one.
DKIM_SELECTOR = os.environ.get("DKIM_SELECTOR", "")
DKIM_KEY_SHA256 = os.environ.get("DKIM_KEY_SHA256", "").strip().lower()
# Nameservers to ask (empty: the system's resolver), their port, and seconds per lookup.
SENDER_CHECK_NAMESERVERS = envlist("SENDER_CHECK_NAMESERVERS", "")
SENDER_CHECK_PORT = envint("SENDER_CHECK_PORT", "53")
SENDER_CHECK_TIMEOUT = envseconds("SENDER_CHECK_TIMEOUT", "3")
# Seconds for all the lookups of one check together (a page or the release waits this long
# at most; gunicorn's workers are killed after 30).
SENDER_CHECK_BUDGET = envseconds("SENDER_CHECK_BUDGET", "12")

# --- Bounces ---------------------------------------------------------------------------------
# Campaign messages leave with the envelope sender bounce+<delivery>-<hmac>@BOUNCE_DOMAIN
# (VERP), so that a bounce names the delivery it is about and cannot be forged without the key
# (derived from SECRET_KEY). Empty: the envelope sender is the From address, as before.
BOUNCE_DOMAIN = os.environ.get("BOUNCE_DOMAIN", "").strip().lower()
# A campaign pauses once this share of its accepted messages bounced (hard), counted only
# from BOUNCE_PAUSE_MIN_SENT accepted messages on (a few early bounces say little).
BOUNCE_PAUSE_RATE = float(os.environ.get("BOUNCE_PAUSE_RATE", "0.05"))
BOUNCE_PAUSE_MIN_SENT = envint("BOUNCE_PAUSE_MIN_SENT", "20")
# Refusals by policy (5.7.x) are easy to forge: each member can write one for their own
# message to its VERP address. They count toward the pause only once at least this many came
# back, from at least this many recipient domains (a relay-wide block looks like that).
BOUNCE_PAUSE_POLICY_MIN = envint("BOUNCE_PAUSE_POLICY_MIN", "5")
BOUNCE_PAUSE_POLICY_DOMAINS = envint("BOUNCE_PAUSE_POLICY_DOMAINS", "3")
# reconcile_in_doubt: how far the relay's clock may be from this one's, and the longest silence
# in the relay's log that still counts as the relay logging all along. "No trace" needs relay
# lines from before the claim to after its hand-over deadline (each widened by the margin),
# none of them further apart than the gap.
RECONCILE_CLOCK_MARGIN_SECONDS = envint("RECONCILE_CLOCK_MARGIN_SECONDS", "120")
RECONCILE_MAX_LOG_GAP_SECONDS = envint("RECONCILE_MAX_LOG_GAP_SECONDS", "60")
# What became of messages at the carriers (campaigns.carrier_outcomes, docs/relay-carriers.md):
# the relay's mail log files (comma-separated, rotated ones too) the worker reads every
# RELAY_MAILLOG_MINUTES, in RELAY_MAILLOG_ZONE (default: this machine's zone) under the
# relay's syslog_name; messages are followed for CARRIER_TRACK_DAYS after the hand-over
# (the profile keeps a message in the relay's queue for one day at most).
RELAY_MAILLOG = envlist("RELAY_MAILLOG", "")
RELAY_MAILLOG_MINUTES = envint("RELAY_MAILLOG_MINUTES", "5")
RELAY_MAILLOG_ZONE = os.environ.get("RELAY_MAILLOG_ZONE", "")
RELAY_SYSLOG_NAME = os.environ.get("RELAY_SYSLOG_NAME", "postfix")
CARRIER_TRACK_DAYS = envint("CARRIER_TRACK_DAYS", "3")
# process_bounces --imap: the mailbox the bounces land in (polled, e.g. by a schedule).
BOUNCE_IMAP_HOST = os.environ.get("BOUNCE_IMAP_HOST", "")
BOUNCE_IMAP_USER = os.environ.get("BOUNCE_IMAP_USER", "")
BOUNCE_IMAP_PASSWORD = os.environ.get("BOUNCE_IMAP_PASSWORD", "")
BOUNCE_IMAP_FOLDER = os.environ.get("BOUNCE_IMAP_FOLDER", "INBOX")
# How often the worker reads that mailbox (a schedule of its own once BOUNCE_IMAP_HOST is set).
BOUNCE_IMAP_MINUTES = envint("BOUNCE_IMAP_MINUTES", "5")

# Where people reach the app: links in notification mails start with it.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# --- Sending ------------------------------------------------------------------------------------
# Workers sending one campaign side by side: a release queues this many task chains. A relay
# takes milliseconds per message, so a campaign's speed comes from several workers.
SEND_PARALLEL = envint("SEND_PARALLEL", "2")
# A send task works this long, then queues its own continuation (no task outlives timeout).
SEND_SLICE_SECONDS = envint("SEND_SLICE_SECONDS", "30")
# A campaign sending with messages left whose workers have not beaten their heart (each
# worker does every few seconds, also while it waits under the rate limit) for this long is
# stalled: its page warns and /health/worker/ is not ok. Above the watchdog's re-ring.
SEND_STALL_MINUTES = envint("SEND_STALL_MINUTES", "2")
# Temporary errors (4xx, a lost connection before hand-over) are retried this often, waiting
# SEND_RETRY_SECONDS x 2^(attempt-1) between tries; then the recipient is marked failed.
SEND_MAX_ATTEMPTS = envint("SEND_MAX_ATTEMPTS", "5")
SEND_RETRY_SECONDS = envint("SEND_RETRY_SECONDS", "30")
# This many failures in a row pause the whole campaign instead of failing every recipient.
SEND_PAUSE_AFTER_FAILURES = envint("SEND_PAUSE_AFTER_FAILURES", "20")
# A message claimed longer ago than EMAIL_TIMEOUT + this margin has lost its worker: it is
# flagged in doubt for a person, never resent automatically.
SEND_STALE_MARGIN_SECONDS = envint("SEND_STALE_MARGIN_SECONDS", "30")

# --- Background worker (django-q2) --------------------------------------------------------------
# django-q2 delivers a task at least once: after a crash, or when a task outlives `retry`, it
# runs again, and it cannot cancel a running task. So the queue is only a doorbell: tasks carry
# a campaign id and the delivery ledger is the truth (claims are guarded updates).
#   timeout 120 s  > SEND_SLICE_SECONDS + EMAIL_TIMEOUT: a slice always ends before it is killed.
#   retry 180 s    > timeout + margin: a task is only re-delivered when its worker really died.
#   max_attempts 1 and ack_failures: a failed task is acknowledged, not retried by the queue;
#                  the watchdog (campaigns.tasks.watchdog, every minute) re-rings the bell.
Q_CLUSTER = {
    "name": "countersign",
    "workers": envint("Q_WORKERS", "2"),
    "orm": "default",
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
}
if EMAIL_TIMEOUT + SEND_SLICE_SECONDS >= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("EMAIL_TIMEOUT + SEND_SLICE_SECONDS must stay below 120 seconds")
if os.environ.get("Q_REDIS_URL"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["Q_REDIS_URL"]

# Error pages and reports show neither local variables nor posted values (member data).
DEFAULT_EXCEPTION_REPORTER_FILTER = "countersign.error_reports.MemberSafeReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # aiosmtpd (the demo catcher, the test sinks) logs every SMTP command at INFO.
    "loggers": {"mail.log": {"level": "WARNING"}},
}
