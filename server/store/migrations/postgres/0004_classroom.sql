-- lab_logs keeps the last output of an ended lab once its container is
-- removed, so that GET .../logs still answers. It is its own table, never
-- part of the lab's JSON or of outbox rows: output is large and may hold
-- what a student printed. It goes with the lab.
CREATE TABLE lab_logs (
    uid        text        PRIMARY KEY REFERENCES lab_instances (uid) ON DELETE CASCADE,
    output     text        NOT NULL,
    truncated  boolean     NOT NULL,
    saved_at   timestamptz NOT NULL
);

-- capacity is what the leading controller admits labs against, recorded
-- at the start of each term, so that every replica (a standby, an API-only
-- one) can answer GET /api/status/capacity.
CREATE TABLE capacity (
    id           integer     PRIMARY KEY CHECK (id = 1),
    milli_cpu    bigint      NOT NULL,
    memory_bytes bigint      NOT NULL,
    -- the largest single workload the engine can run (0: not known)
    max_milli_cpu    bigint NOT NULL DEFAULT 0,
    max_memory_bytes bigint NOT NULL DEFAULT 0,
    recorded_by  text        NOT NULL,
    recorded_at  timestamptz NOT NULL
);
