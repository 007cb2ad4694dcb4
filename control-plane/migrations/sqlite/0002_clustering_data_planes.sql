-- The data planes known to the cluster; see ../postgres/0002_clustering_data_planes.sql.
CREATE TABLE clustering_data_planes (
    id        TEXT    NOT NULL,
    last_seen INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    CONSTRAINT clustering_data_planes_pkey PRIMARY KEY (id)
);
CREATE INDEX clustering_data_planes_last_seen_idx ON clustering_data_planes (last_seen);
