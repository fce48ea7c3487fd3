-- Positions order the outbox and version the objects. On PostgreSQL a
-- position is the writing transaction's id plus a base that only ever grows,
-- so that a restore into a cluster whose xids start again from low values
-- does not move positions backwards (see store/doc.go).
CREATE TABLE position_base (
    id   integer PRIMARY KEY CHECK (id = 1),
    base bigint  NOT NULL
);
INSERT INTO position_base (id, base) VALUES (1, 0);

-- lab_position is the position of the calling transaction; it assigns the
-- transaction an xid if it has none yet.
CREATE FUNCTION lab_position() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT pg_current_xact_id()::text::bigint + base FROM position_base WHERE id = 1
$$;

-- lab_horizon is the position below which every transaction has ended, in
-- the snapshot of the calling statement: a reader that reads only below it
-- can never miss a row that commits later.
CREATE FUNCTION lab_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint + base FROM position_base WHERE id = 1
$$;

CREATE TABLE lab_instances (
    uid                text        PRIMARY KEY,
    namespace          text        NOT NULL,
    name               text        NOT NULL,
    resource_version   bigint      NOT NULL,
    generation         bigint      NOT NULL,
    phase              text        NOT NULL,
    student_email      text        NOT NULL,
    deleting           boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    object             jsonb       NOT NULL,
    CONSTRAINT lab_instances_key UNIQUE (namespace, name)
);
CREATE INDEX lab_instances_phase ON lab_instances (phase, namespace, name);
CREATE INDEX lab_instances_email ON lab_instances (student_email, namespace, name);
CREATE INDEX lab_instances_deleting ON lab_instances (namespace, name) WHERE deleting;

CREATE TABLE lab_labels (
    uid   text NOT NULL REFERENCES lab_instances (uid) ON DELETE CASCADE,
    key   text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (uid, key)
);
CREATE INDEX lab_labels_kv ON lab_labels (key, value, uid);

CREATE TABLE outbox (
    id               bigserial   PRIMARY KEY,
    position         bigint      NOT NULL DEFAULT lab_position(),
    event_type       text        NOT NULL,
    uid              text        NOT NULL,
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    resource_version bigint      NOT NULL,
    object           jsonb       NOT NULL,
    message          text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_position ON outbox (position, id);
CREATE INDEX outbox_uid ON outbox (uid, position);
CREATE INDEX outbox_key ON outbox (namespace, name, id);
CREATE INDEX outbox_created ON outbox (created_at);

-- outbox_floor: every event at or below this position may have been pruned.
CREATE TABLE outbox_floor (
    id       integer PRIMARY KEY CHECK (id = 1),
    position bigint  NOT NULL
);
INSERT INTO outbox_floor (id, position) VALUES (1, 0);

CREATE TABLE watcher_bookmarks (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE leader_term (
    id          integer     PRIMARY KEY CHECK (id = 1),
    epoch       bigint      NOT NULL,
    holder      text        NOT NULL,
    acquired_at timestamptz
);
INSERT INTO leader_term (id, epoch, holder) VALUES (1, 0, '');

CREATE TABLE counters (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);
