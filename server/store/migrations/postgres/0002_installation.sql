-- installation names this store, so that labd installations sharing a
-- Docker host only ever garbage-collect their own containers.
CREATE TABLE installation (
    id  integer PRIMARY KEY CHECK (id = 1),
    uid text    NOT NULL
);
INSERT INTO installation (id, uid) VALUES (1, gen_random_uuid()::text);
