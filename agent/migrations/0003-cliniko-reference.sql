-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 3: what the agent last learnt from Cliniko's reference data, and
-- the problem, if any, it last had talking to Cliniko for a clinic (a
-- sentence without secrets, e.g. which resource the key may not read).

ALTER TABLE clinics ADD COLUMN reference_refreshed_at INTEGER;
ALTER TABLE clinics ADD COLUMN double_reminders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clinics ADD COLUMN cliniko_problem TEXT;
