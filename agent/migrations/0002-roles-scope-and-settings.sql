-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 2: a role on clinic 0 means "every clinic, present and future"
-- (the installation's owners), so user_roles no longer points at clinics
-- with a foreign key; a trigger removes a clinic's roles with the clinic.
-- Audit entries form one hash chain per clinic (clinic 0: no clinic).

CREATE TABLE user_roles_v2 (
  user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  clinic_id INTEGER NOT NULL CHECK (clinic_id >= 0),
  role      TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'staff')),
  PRIMARY KEY (user_id, clinic_id)
) STRICT;
INSERT INTO user_roles_v2 (user_id, clinic_id, role)
  SELECT user_id, clinic_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_v2 RENAME TO user_roles;

CREATE TRIGGER clinics_remove_roles AFTER DELETE ON clinics
BEGIN
  DELETE FROM user_roles WHERE clinic_id = OLD.id;
END;

CREATE INDEX audit_chain ON audit (coalesce(clinic_id, 0), id);

INSERT INTO settings (key, value) VALUES ('idle-timeout-minutes', '15')
  ON CONFLICT (key) DO NOTHING;
