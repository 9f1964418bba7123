-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 1: configuration and delivery state only. No table holds a patient
-- name, a clear e-mail address, a rendered message, or any secret: secrets
-- live in the keyring and are referenced here by fingerprint only.
-- All times are UTC, in microseconds since the UNIX epoch.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE clinics (
  id                  INTEGER PRIMARY KEY,
  name                TEXT NOT NULL,
  created_at          INTEGER NOT NULL,
  -- Cliniko connection: the key itself is in the keyring (kind
  -- cliniko-api-key, attribute clinic = id); only its fingerprint is here.
  cliniko_shard       TEXT,
  key_fingerprint     TEXT,
  cliniko_user_name   TEXT,
  cliniko_user_role   TEXT,
  account_name        TEXT,
  time_zone           TEXT,
  connected_at        INTEGER,
  base_url_override   TEXT,
  key_state           TEXT NOT NULL DEFAULT 'none',
  paused              INTEGER NOT NULL DEFAULT 0,
  scan_interval_min   INTEGER NOT NULL DEFAULT 5 CHECK (scan_interval_min BETWEEN 1 AND 60),
  write_back          INTEGER NOT NULL DEFAULT 1,
  retention_days      INTEGER NOT NULL DEFAULT 400 CHECK (retention_days > 0)
) STRICT;

-- Reference data from Cliniko: configuration for filters and rendering.
CREATE TABLE reference_items (
  clinic_id   INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  kind        TEXT NOT NULL CHECK (kind IN ('business', 'practitioner', 'appointment-type')),
  cliniko_id  TEXT NOT NULL,
  name        TEXT NOT NULL,
  details     TEXT NOT NULL DEFAULT '{}',
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (clinic_id, kind, cliniko_id)
) STRICT;

CREATE TABLE users (
  id              INTEGER PRIMARY KEY,
  username        TEXT NOT NULL UNIQUE,
  display_name    TEXT NOT NULL,
  passphrase_hash TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  lockouts        INTEGER NOT NULL DEFAULT 0,
  locked_until    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE user_roles (
  user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  clinic_id INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  role      TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'staff')),
  PRIMARY KEY (user_id, clinic_id)
) STRICT;

CREATE TABLE templates (
  id          INTEGER PRIMARY KEY,
  clinic_id   INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  subject     TEXT NOT NULL,
  body_text   TEXT NOT NULL,
  body_html   TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  UNIQUE (clinic_id, name)
) STRICT;

CREATE TABLE rules (
  id              INTEGER PRIMARY KEY,
  clinic_id       INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  name            TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('reminder', 'follow-up', 'did-not-arrive', 'recall')),
  category        TEXT NOT NULL CHECK (category IN ('care', 'marketing')),
  enabled         INTEGER NOT NULL DEFAULT 0,
  enabled_at      INTEGER,
  -- Timing, filters and send window as JSON documents validated by the agent.
  timing          TEXT NOT NULL,
  filters         TEXT NOT NULL DEFAULT '{}',
  send_window     TEXT NOT NULL DEFAULT '{}',
  latest_useful   INTEGER,
  template_id     INTEGER NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (clinic_id, name)
) STRICT;

-- One row per idempotency key: a duplicate plan is a no-op, never a second
-- e-mail. attendee_id and appointment_start are '' when they do not apply,
-- so that the UNIQUE constraint sees equal values (NULLs never collide).
CREATE TABLE outbox (
  id                INTEGER PRIMARY KEY,
  clinic_id         INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  rule_id           INTEGER NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
  appointment_id    TEXT NOT NULL,
  attendee_id       TEXT NOT NULL DEFAULT '',
  appointment_start TEXT NOT NULL DEFAULT '',
  patient_id        TEXT,
  business_id       TEXT,
  planned_at        INTEGER NOT NULL,
  latest_at         INTEGER,
  state             TEXT NOT NULL CHECK (state IN ('planned', 'sending', 'sent', 'skipped',
                                                   'retry_wait', 'failed', 'cancelled',
                                                   'interrupted')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   INTEGER,
  reason            TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (clinic_id, rule_id, appointment_id, attendee_id, appointment_start)
) STRICT;
CREATE INDEX outbox_due ON outbox (state, planned_at);
CREATE INDEX outbox_clinic_updated ON outbox (clinic_id, updated_at);

-- Redacted: a masked recipient and a keyed hash of the address, never the
-- address itself.
CREATE TABLE delivery_events (
  id                INTEGER PRIMARY KEY,
  clinic_id         INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  outbox_id         INTEGER REFERENCES outbox (id) ON DELETE SET NULL,
  rule_id           INTEGER,
  template_name     TEXT,
  at                INTEGER NOT NULL,
  state             TEXT NOT NULL,
  reason            TEXT,
  masked_recipient  TEXT,
  recipient_hash    TEXT,
  smtp_code         INTEGER
) STRICT;
CREATE INDEX delivery_events_clinic_at ON delivery_events (clinic_id, at, id);

-- Append-only and hash-chained: hash = SHA-256 over the entry's canonical
-- form and prev_hash. clinic_id is kept as a plain value (no foreign key) so
-- that removing a clinic never removes its history.
CREATE TABLE audit (
  id         INTEGER PRIMARY KEY,
  at         INTEGER NOT NULL,
  user_name  TEXT NOT NULL,
  clinic_id  INTEGER,
  action     TEXT NOT NULL,
  target     TEXT NOT NULL DEFAULT '',
  summary    TEXT NOT NULL DEFAULT '',
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL
) STRICT;

CREATE TABLE licence (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  token       TEXT NOT NULL,
  plan        TEXT NOT NULL,
  clinic_cap  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  verified_at INTEGER NOT NULL
) STRICT;

CREATE TABLE scan_cursors (
  clinic_id  INTEGER NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  resource   TEXT NOT NULL,
  cursor     TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (clinic_id, resource)
) STRICT;
