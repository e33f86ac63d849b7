-- An event's data and a webhook delivery's payload are kept as json, as the audit entries they come from are
-- (migration 013). The sealer now writes both from the sealed entries in SQL (src/writes/events.ts): the entry's
-- values are copied as they are, with no JSON sent from Node and no text read into jsonb, where before each event's
-- data was written out in Node and read twice by PostgreSQL (the event, its delivery payload). Nothing queries inside
-- them. The tables are rewritten once, under an exclusive lock (both are bounded by the events' retention).
ALTER TABLE events ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE webhook_deliveries ALTER COLUMN event TYPE json USING event::json;
