-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Schema 8: a message's delivery events by the message. ListOutbox shows
-- each message's masked recipient from its latest event, and removing
-- outbox rows (retention) sets their events' outbox_id to NULL: both look
-- events up by outbox_id, which no index covered.

CREATE INDEX delivery_events_outbox ON delivery_events (outbox_id);
