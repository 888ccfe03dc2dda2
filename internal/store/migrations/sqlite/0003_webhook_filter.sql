-- A webhook's payload filter: a CEL expression over the event, evaluated
-- by the dispatcher (package filter). NULL: every subscribed event.
ALTER TABLE webhooks ADD COLUMN filter TEXT;
