-- SQLite serialises writers, so a plain counter bumped once per write
-- transaction is a gap-free commit order (see store/doc.go).
CREATE TABLE position_seq (
    id    integer PRIMARY KEY CHECK (id = 1),
    value integer NOT NULL
);
INSERT INTO position_seq (id, value) VALUES (1, 0);

CREATE TABLE lab_instances (
    uid                text    PRIMARY KEY,
    namespace          text    NOT NULL,
    name               text    NOT NULL,
    resource_version   integer NOT NULL,
    generation         integer NOT NULL,
    phase              text    NOT NULL,
    student_email      text    NOT NULL,
    deleting           integer NOT NULL DEFAULT 0,
    created_at         datetime NOT NULL,
    object             text    NOT NULL,
    CONSTRAINT lab_instances_key UNIQUE (namespace, name)
);
CREATE INDEX lab_instances_phase ON lab_instances (phase, namespace, name);
CREATE INDEX lab_instances_email ON lab_instances (student_email, namespace, name);

CREATE TABLE lab_labels (
    uid   text NOT NULL REFERENCES lab_instances (uid) ON DELETE CASCADE,
    key   text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (uid, key)
);
CREATE INDEX lab_labels_kv ON lab_labels (key, value, uid);

CREATE TABLE outbox (
    id               integer  PRIMARY KEY AUTOINCREMENT,
    position         integer  NOT NULL,
    event_type       text     NOT NULL,
    uid              text     NOT NULL,
    namespace        text     NOT NULL,
    name             text     NOT NULL,
    resource_version integer  NOT NULL,
    object           text     NOT NULL,
    message          text     NOT NULL DEFAULT '',
    created_at       datetime NOT NULL
);
CREATE INDEX outbox_position ON outbox (position, id);
CREATE INDEX outbox_uid ON outbox (uid, position);
CREATE INDEX outbox_key ON outbox (namespace, name, id);
CREATE INDEX outbox_created ON outbox (created_at);

CREATE TABLE outbox_floor (
    id       integer PRIMARY KEY CHECK (id = 1),
    position integer NOT NULL
);
INSERT INTO outbox_floor (id, position) VALUES (1, 0);

CREATE TABLE watcher_bookmarks (
    name       text     PRIMARY KEY,
    position   integer  NOT NULL,
    updated_at datetime NOT NULL
);

CREATE TABLE leader_term (
    id          integer  PRIMARY KEY CHECK (id = 1),
    epoch       integer  NOT NULL,
    holder      text     NOT NULL,
    acquired_at datetime
);
INSERT INTO leader_term (id, epoch, holder) VALUES (1, 0, '');

CREATE TABLE counters (
    name  text    PRIMARY KEY,
    value integer NOT NULL
);
