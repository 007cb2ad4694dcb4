-- Kong Enterprise's mtls-auth subject-name mappings; see
-- ../postgres/0003_mtls_auth_credentials.sql.
CREATE TABLE mtls_auth_credentials (
    id                TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    cache_key         TEXT    NOT NULL,
    consumer_id       TEXT    NOT NULL,
    ca_certificate_id TEXT,
    entity            TEXT    NOT NULL,
    CONSTRAINT mtls_auth_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT mtls_auth_credentials_cache_key_key UNIQUE (cache_key),
    CONSTRAINT mtls_auth_credentials_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE,
    CONSTRAINT mtls_auth_credentials_ca_certificate_id_fkey FOREIGN KEY (ca_certificate_id)
        REFERENCES ca_certificates (id) ON DELETE CASCADE
);
CREATE INDEX mtls_auth_credentials_consumer_id_idx ON mtls_auth_credentials (consumer_id);
CREATE INDEX mtls_auth_credentials_ca_certificate_id_idx
    ON mtls_auth_credentials (ca_certificate_id);
