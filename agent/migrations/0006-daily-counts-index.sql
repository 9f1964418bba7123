-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 6: daily counts by state read a clinic's events of a day from
-- the index alone. The new index replaces (clinic_id, at, id): the id is
-- in every index anyway, so it serves the same time-range queries.

DROP INDEX delivery_events_clinic_at;
CREATE INDEX delivery_events_clinic_at_state ON delivery_events (clinic_id, at, state);
