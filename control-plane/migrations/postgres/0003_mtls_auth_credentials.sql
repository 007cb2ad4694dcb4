-- Kong Enterprise's mtls-auth subject-name mappings. `cache_key` is Kong's unique
-- (subject_name, ca_certificate) key, in which an absent CA is a value of its own (see
-- plugins in 0001_initial.sql). Deleting the consumer or the CA deletes the mapping, as
-- Kong's DAO does.
CREATE TABLE mtls_auth_credentials (
    id                UUID   NOT NULL,
    created_at        BIGINT NOT NULL,
    cache_key         TEXT   NOT NULL,
    consumer_id       UUID   NOT NULL,
    ca_certificate_id UUID,
    entity            JSONB  NOT NULL,
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
