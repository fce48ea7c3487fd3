-- lab_access holds each lab's gateway access token. A token is a secret:
-- it lives only here, never in the lab's JSON, the outbox, watches or
-- events. Labs created before this migration get a random one.
CREATE TABLE lab_access (
    uid   text PRIMARY KEY REFERENCES lab_instances (uid) ON DELETE CASCADE,
    token text NOT NULL
);
INSERT INTO lab_access (uid, token)
SELECT uid, replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '') FROM lab_instances;
