-- The master key that wrapped `secret` (see src/integration/secrets.rs); NULL: the secret is
-- stored as it was shown, as every subscription made before secrets were sealed (the service
-- seals those when it starts).
ALTER TABLE webhook_subscriptions ADD COLUMN secret_master_key_id TEXT;
