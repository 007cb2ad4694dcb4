-- The data planes known to the cluster, shared by every control plane on this database so
-- that `/clustering/data-planes` on any of them lists the whole fleet (as Kong's
-- `clustering_data_planes` table does). Not configuration: writes here use no version.
-- `status` is the control plane's JSON view of the data plane (Kong's fields and Portico's).
CREATE TABLE clustering_data_planes (
    id        UUID   NOT NULL,
    last_seen BIGINT NOT NULL,
    status    TEXT   NOT NULL,
    CONSTRAINT clustering_data_planes_pkey PRIMARY KEY (id)
);
CREATE INDEX clustering_data_planes_last_seen_idx ON clustering_data_planes (last_seen);
