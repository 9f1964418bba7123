-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 4: how each clinic sends email. The SMTP password is in the
-- keyring (kind smtp-password, attribute clinic = id); only whether one is
-- set is kept here. "file" writes each message as an .eml file into a
-- folder (the demo, template testing).

ALTER TABLE clinics ADD COLUMN email_transport TEXT
  CHECK (email_transport IN ('smtp', 'file'));
ALTER TABLE clinics ADD COLUMN smtp_host TEXT;
ALTER TABLE clinics ADD COLUMN smtp_port INTEGER;
ALTER TABLE clinics ADD COLUMN smtp_security TEXT
  CHECK (smtp_security IN ('starttls', 'tls', 'none'));
ALTER TABLE clinics ADD COLUMN smtp_username TEXT;
ALTER TABLE clinics ADD COLUMN smtp_password_set INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clinics ADD COLUMN smtp_ca_pem TEXT;
ALTER TABLE clinics ADD COLUMN file_folder TEXT;
ALTER TABLE clinics ADD COLUMN from_name TEXT;
ALTER TABLE clinics ADD COLUMN from_address TEXT;
ALTER TABLE clinics ADD COLUMN reply_to TEXT;
-- Set when the SMTP server refused the login: sending pauses until the
-- settings change, rather than retrying into a lock-out.
ALTER TABLE clinics ADD COLUMN email_problem TEXT;

CREATE INDEX outbox_clinic_state ON outbox (clinic_id, state, id);

-- The account's own word for "patient" (Cliniko's terminology), for
-- templates.
ALTER TABLE clinics ADD COLUMN terminology_patient TEXT;

-- Sending: the stable Message-ID of a row, and the memo written back to
-- Cliniko after a send (pending, done, failed; NULL when not wanted).
ALTER TABLE outbox ADD COLUMN message_id TEXT;
ALTER TABLE outbox ADD COLUMN writeback_state TEXT
  CHECK (writeback_state IN ('pending', 'done', 'failed'));
ALTER TABLE outbox ADD COLUMN writeback_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_writeback ON outbox (writeback_state) WHERE writeback_state = 'pending';
