-- A parked event an operator skipped (foldbank parked skip) is kept, marked skipped, rather than
-- deleted: a rebuild or a verify of its read model must leave it out, as the live model did.
ALTER TABLE parked_events ADD COLUMN skipped_at TEXT;
