-- An operator paused this follower (`POST /projections/{name}/pause`): its checkpoint moves no
-- more until `.../resume` clears it. The checkpoint's compare-and-set also requires it to be
-- NULL, so once a pause has committed no batch commits after it, whichever process leads.
ALTER TABLE projection_checkpoints ADD COLUMN paused_at TEXT;
