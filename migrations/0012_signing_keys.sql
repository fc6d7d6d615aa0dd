-- chatgate's ES256 signing keys (src/auth/signing.rs): access tokens are signed with one and
-- verified by anyone from GET /.well-known/jwks.json. A key is published from created_at and
-- signs from an hour later (the first key at once), until a newer key signs; it is deleted
-- once every token it signed has expired. The private scalar is sealed under the master key
-- (ENCRYPTION_KEYS, version private_key_version) with the kid as associated data.
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  private_key_version INTEGER NOT NULL,
  private_key_sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX signing_keys_by_creation ON signing_keys(created_at);
