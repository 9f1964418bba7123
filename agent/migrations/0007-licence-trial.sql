-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 7: without a licence the agent runs a 30-day trial. A new
-- database starts it now, at its creation; a database from before
-- licences existed starts it now too, at this upgrade, rather than
-- pausing its sending the moment it is upgraded.

INSERT INTO settings (key, value)
  VALUES ('trial-started-at', CAST(CAST(strftime('%s', 'now') AS INTEGER) * 1000000 AS TEXT))
  ON CONFLICT (key) DO NOTHING;
