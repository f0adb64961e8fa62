-- The incident record, its append-only event log, the per-(city, day) number counter and the
-- outbox. One file for SQLite and PostgreSQL: TEXT for JSON, DOUBLE PRECISION for epoch
-- seconds, INTEGER for counters. @ID@ is the only dialect token (an auto-increment primary key:
-- SQLite's INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL's identity column).

CREATE TABLE incident_counter (
    city TEXT NOT NULL,
    day TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (city, day)
);

CREATE TABLE incident (
    number TEXT PRIMARY KEY,
    ng911_incident_uid TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    day TEXT NOT NULL,
    day_seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    caller TEXT NOT NULL,
    call_id TEXT NOT NULL,
    ng911_call_uid TEXT NOT NULL,
    opened_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    location TEXT,
    location_error TEXT NOT NULL,
    grid TEXT,
    station TEXT,
    county TEXT,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    severity INTEGER NOT NULL,
    summary TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    recordings TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    -- A second guard behind the counter: a number can never be handed out twice.
    UNIQUE (city, day, day_seq)
);

CREATE INDEX incident_opened ON incident (opened_at);
CREATE INDEX incident_call ON incident (call_id, opened_at);
CREATE INDEX incident_station ON incident (station, opened_at);
CREATE INDEX incident_county ON incident (county, opened_at);
CREATE INDEX incident_grid ON incident (grid, opened_at);
CREATE INDEX incident_status ON incident (status, opened_at);

CREATE TABLE incident_event (
    number TEXT NOT NULL REFERENCES incident (number),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (number, seq)
);

-- state: 'pending' (the relay's work), 'sent', or 'dead' (the dead-letter list).
CREATE TABLE outbox (
    id @ID@,
    number TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    changed_at DOUBLE PRECISION
);

CREATE INDEX outbox_state ON outbox (state, id);
