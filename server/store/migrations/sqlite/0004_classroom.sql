-- lab_logs keeps the last output of an ended lab once its container is
-- removed (see the PostgreSQL migration).
CREATE TABLE lab_logs (
    uid        text     PRIMARY KEY REFERENCES lab_instances (uid) ON DELETE CASCADE,
    output     text     NOT NULL,
    truncated  integer  NOT NULL,
    saved_at   datetime NOT NULL
);

-- capacity is what the leading controller admits labs against.
CREATE TABLE capacity (
    id           integer  PRIMARY KEY CHECK (id = 1),
    milli_cpu    integer  NOT NULL,
    memory_bytes integer  NOT NULL,
    -- the largest single workload the engine can run (0: not known)
    max_milli_cpu    integer NOT NULL DEFAULT 0,
    max_memory_bytes integer NOT NULL DEFAULT 0,
    recorded_by  text     NOT NULL,
    recorded_at  datetime NOT NULL
);
