-- Portico configuration store, Postgres flavour (production).
--
-- One table per entity kind: `id`, `created_at`, the full entity as JSONB, and a real column
-- for every foreign key and unique field, so that Postgres itself enforces uniqueness and
-- references. Constraint names follow `<table>_<columns>_key` / `<table>_<column>_fkey`;
-- the store maps them back to entity fields (control-plane/src/store/layout.rs), so keep
-- the two in step. ON DELETE rules come from `EntityKind::foreign_keys`.

CREATE TABLE config_version (
    id             SMALLINT PRIMARY KEY CHECK (id = 1),
    version        BIGINT NOT NULL,
    -- Change-log rows for versions <= pruned_through may have been deleted.
    pruned_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO config_version (id, version, pruned_through) VALUES (1, 0, 0);

CREATE TABLE config_changes (
    version   BIGINT NOT NULL,
    kind      TEXT   COLLATE "C" NOT NULL,
    entity_id UUID   NOT NULL,
    op        TEXT   NOT NULL CHECK (op IN ('insert', 'update', 'upsert', 'delete')),
    CONSTRAINT config_changes_pkey PRIMARY KEY (version, kind, entity_id)
);

-- Byte order ("C"), like SQLite, so /tags pages come in the same order on both backends.
CREATE TABLE tags (
    kind      TEXT COLLATE "C" NOT NULL,
    entity_id UUID NOT NULL,
    tag       TEXT COLLATE "C" NOT NULL,
    CONSTRAINT tags_pkey PRIMARY KEY (kind, entity_id, tag)
);
CREATE INDEX tags_tag_idx ON tags (tag, kind, entity_id);

CREATE TABLE certificates (
    id         UUID   NOT NULL,
    created_at BIGINT NOT NULL,
    entity     JSONB  NOT NULL,
    CONSTRAINT certificates_pkey PRIMARY KEY (id)
);

CREATE TABLE ca_certificates (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    cert_digest TEXT,
    entity      JSONB  NOT NULL,
    CONSTRAINT ca_certificates_pkey PRIMARY KEY (id),
    CONSTRAINT ca_certificates_cert_digest_key UNIQUE (cert_digest)
);

CREATE TABLE snis (
    id             UUID   NOT NULL,
    created_at     BIGINT NOT NULL,
    name           TEXT,
    certificate_id UUID   NOT NULL,
    entity         JSONB  NOT NULL,
    CONSTRAINT snis_pkey PRIMARY KEY (id),
    CONSTRAINT snis_name_key UNIQUE (name),
    CONSTRAINT snis_certificate_id_fkey FOREIGN KEY (certificate_id)
        REFERENCES certificates (id) ON DELETE CASCADE
);
CREATE INDEX snis_certificate_id_idx ON snis (certificate_id);

CREATE TABLE services (
    id                    UUID   NOT NULL,
    created_at            BIGINT NOT NULL,
    name                  TEXT,
    client_certificate_id UUID,
    entity                JSONB  NOT NULL,
    CONSTRAINT services_pkey PRIMARY KEY (id),
    CONSTRAINT services_name_key UNIQUE (name),
    CONSTRAINT services_client_certificate_id_fkey FOREIGN KEY (client_certificate_id)
        REFERENCES certificates (id) ON DELETE RESTRICT
);
CREATE INDEX services_client_certificate_id_idx ON services (client_certificate_id);

-- services.ca_certificates (an array of ids) as rows, kept by the store in step with the
-- entity, so that deleting a CA certificate a service trusts is refused by the database.
-- Tables for id-array fields are named <table>_<field> with owner_id / referenced_id.
CREATE TABLE services_ca_certificates (
    owner_id          UUID NOT NULL,
    referenced_id     UUID NOT NULL,
    CONSTRAINT services_ca_certificates_pkey PRIMARY KEY (owner_id, referenced_id),
    CONSTRAINT services_ca_certificates_owner_id_fkey FOREIGN KEY (owner_id)
        REFERENCES services (id) ON DELETE CASCADE,
    CONSTRAINT services_ca_certificates_referenced_id_fkey FOREIGN KEY (referenced_id)
        REFERENCES ca_certificates (id) ON DELETE RESTRICT
);
CREATE INDEX services_ca_certificates_referenced_id_idx
    ON services_ca_certificates (referenced_id);

CREATE TABLE routes (
    id         UUID   NOT NULL,
    created_at BIGINT NOT NULL,
    name       TEXT,
    service_id UUID,
    entity     JSONB  NOT NULL,
    CONSTRAINT routes_pkey PRIMARY KEY (id),
    CONSTRAINT routes_name_key UNIQUE (name),
    CONSTRAINT routes_service_id_fkey FOREIGN KEY (service_id)
        REFERENCES services (id) ON DELETE RESTRICT
);
CREATE INDEX routes_service_id_idx ON routes (service_id);

CREATE TABLE consumers (
    id         UUID   NOT NULL,
    created_at BIGINT NOT NULL,
    username   TEXT,
    custom_id  TEXT,
    entity     JSONB  NOT NULL,
    CONSTRAINT consumers_pkey PRIMARY KEY (id),
    CONSTRAINT consumers_username_key UNIQUE (username),
    CONSTRAINT consumers_custom_id_key UNIQUE (custom_id)
);

CREATE TABLE upstreams (
    id                    UUID   NOT NULL,
    created_at            BIGINT NOT NULL,
    name                  TEXT,
    client_certificate_id UUID,
    entity                JSONB  NOT NULL,
    CONSTRAINT upstreams_pkey PRIMARY KEY (id),
    CONSTRAINT upstreams_name_key UNIQUE (name),
    CONSTRAINT upstreams_client_certificate_id_fkey FOREIGN KEY (client_certificate_id)
        REFERENCES certificates (id) ON DELETE RESTRICT
);
CREATE INDEX upstreams_client_certificate_id_idx ON upstreams (client_certificate_id);

CREATE TABLE targets (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    upstream_id UUID   NOT NULL,
    target      TEXT   NOT NULL,
    entity      JSONB  NOT NULL,
    CONSTRAINT targets_pkey PRIMARY KEY (id),
    CONSTRAINT targets_upstream_id_target_key UNIQUE (upstream_id, target),
    CONSTRAINT targets_upstream_id_fkey FOREIGN KEY (upstream_id)
        REFERENCES upstreams (id) ON DELETE CASCADE
);

-- Kong's plugin scope uniqueness (name, route, service, consumer), where an absent scope is
-- a value of its own, is a text `cache_key` made of those four values.
CREATE TABLE plugins (
    id            UUID   NOT NULL,
    created_at    BIGINT NOT NULL,
    instance_name TEXT,
    route_id      UUID,
    service_id    UUID,
    consumer_id   UUID,
    cache_key     TEXT   NOT NULL,
    entity        JSONB  NOT NULL,
    CONSTRAINT plugins_pkey PRIMARY KEY (id),
    CONSTRAINT plugins_instance_name_key UNIQUE (instance_name),
    CONSTRAINT plugins_cache_key_key UNIQUE (cache_key),
    CONSTRAINT plugins_route_id_fkey FOREIGN KEY (route_id)
        REFERENCES routes (id) ON DELETE CASCADE,
    CONSTRAINT plugins_service_id_fkey FOREIGN KEY (service_id)
        REFERENCES services (id) ON DELETE CASCADE,
    CONSTRAINT plugins_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE
);
CREATE INDEX plugins_route_id_idx ON plugins (route_id);
CREATE INDEX plugins_service_id_idx ON plugins (service_id);
CREATE INDEX plugins_consumer_id_idx ON plugins (consumer_id);

CREATE TABLE keyauth_credentials (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    key         TEXT,
    consumer_id UUID   NOT NULL,
    entity      JSONB  NOT NULL,
    CONSTRAINT keyauth_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT keyauth_credentials_key_key UNIQUE (key),
    CONSTRAINT keyauth_credentials_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE
);
CREATE INDEX keyauth_credentials_consumer_id_idx ON keyauth_credentials (consumer_id);

CREATE TABLE basicauth_credentials (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    username    TEXT,
    consumer_id UUID   NOT NULL,
    entity      JSONB  NOT NULL,
    CONSTRAINT basicauth_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT basicauth_credentials_username_key UNIQUE (username),
    CONSTRAINT basicauth_credentials_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE
);
CREATE INDEX basicauth_credentials_consumer_id_idx ON basicauth_credentials (consumer_id);

CREATE TABLE hmacauth_credentials (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    username    TEXT,
    consumer_id UUID   NOT NULL,
    entity      JSONB  NOT NULL,
    CONSTRAINT hmacauth_credentials_pkey PRIMARY KEY (id),
    CONSTRAINT hmacauth_credentials_username_key UNIQUE (username),
    CONSTRAINT hmacauth_credentials_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE
);
CREATE INDEX hmacauth_credentials_consumer_id_idx ON hmacauth_credentials (consumer_id);

CREATE TABLE acls (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    consumer_id UUID   NOT NULL,
    "group"     TEXT   NOT NULL,
    entity      JSONB  NOT NULL,
    CONSTRAINT acls_pkey PRIMARY KEY (id),
    CONSTRAINT acls_consumer_id_group_key UNIQUE (consumer_id, "group"),
    CONSTRAINT acls_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE
);

CREATE TABLE jwt_secrets (
    id          UUID   NOT NULL,
    created_at  BIGINT NOT NULL,
    key         TEXT,
    consumer_id UUID   NOT NULL,
    entity      JSONB  NOT NULL,
    CONSTRAINT jwt_secrets_pkey PRIMARY KEY (id),
    CONSTRAINT jwt_secrets_key_key UNIQUE (key),
    CONSTRAINT jwt_secrets_consumer_id_fkey FOREIGN KEY (consumer_id)
        REFERENCES consumers (id) ON DELETE CASCADE
);
CREATE INDEX jwt_secrets_consumer_id_idx ON jwt_secrets (consumer_id);
