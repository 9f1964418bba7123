-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 5: lists page newest first by id within a clinic (and a state);
-- an index on the clinic alone keeps rows in id order, so the first page
-- of a million events is read from the index, not sorted.

CREATE INDEX delivery_events_clinic ON delivery_events (clinic_id);
CREATE INDEX delivery_events_clinic_state ON delivery_events (clinic_id, state);
CREATE INDEX outbox_clinic ON outbox (clinic_id);
