import GRDB

/// The schema, as a list of named migrations.
///
/// A migration that has shipped is never edited: a schema change is a new migration appended at
/// the end, named by its date. Opening a database (`GatewayDatabase.init`) refuses a file that
/// has migrations this build does not know (it was written by a newer ccm-gateway). See
/// docs/architecture.md § "The database".
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("2026-11-29-foundation", migrate: foundation)
        migrator.registerMigration("2026-11-29-careplans-alerts", migrate: careplansAndAlerts)
        migrator.registerMigration("2026-11-29-time-entries", migrate: timeEntries)
        migrator.registerMigration("2026-11-29-ble", migrate: ble)
        migrator.registerMigration("2026-11-29-billing", migrate: billing)
        migrator.registerMigration("2026-11-30-robust-pipeline", migrate: robustPipeline)
        migrator.registerMigration("2026-11-30-inbox-payload-size", migrate: inboxPayloadSize)
        migrator.registerMigration("2026-11-30-alert-outbox", migrate: alertOutbox)
        migrator.registerMigration("2026-11-30-hubs", migrate: hubs)
        migrator.registerMigration("2026-11-30-device-meaning", migrate: deviceMeaning)
        migrator.registerMigration("2026-11-30-ble-bonds", migrate: bleBonds)
        migrator.registerMigration("2026-11-30-reading-windowed-history", migrate: readingWindowedHistory)
        return migrator
    }

    /// Patients, devices, the raw inbox with one outcome per reading, readings, the audit log.
    private static func foundation(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE patient (
                    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
                    name TEXT NOT NULL DEFAULT '',
                    time_zone TEXT NOT NULL,
                    conditions TEXT NOT NULL DEFAULT '[]',
                    medications TEXT NOT NULL DEFAULT '[]',
                    medicare_part_b BOOLEAN NOT NULL DEFAULT 0,
                    ccm_consent_date TEXT,
                    complexity TEXT NOT NULL DEFAULT 'non-complex' CHECK (complexity IN ('non-complex', 'complex')),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                CREATE TABLE device (
                    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
                    kind TEXT NOT NULL,
                    ble_address TEXT UNIQUE,
                    model TEXT,
                    patient_id TEXT REFERENCES patient(id) ON DELETE RESTRICT,
                    hub_id TEXT,
                    assigned_at DATETIME,
                    created_at DATETIME NOT NULL
                );
                CREATE INDEX device_patient ON device(patient_id);

                -- Every input exactly as received, written before anything else looks at it.
                CREATE TABLE inbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    received_at DATETIME NOT NULL,
                    source TEXT NOT NULL,
                    format TEXT NOT NULL,
                    hub_id TEXT,
                    payload BLOB NOT NULL,
                    processed_at DATETIME
                );
                CREATE INDEX inbox_pending ON inbox(id) WHERE processed_at IS NULL;

                -- The outcome of each reading in an input (an input may hold an array of them).
                CREATE TABLE inbox_item (
                    inbox_id INTEGER NOT NULL REFERENCES inbox(id),
                    item INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'quarantined', 'duplicate')),
                    code TEXT,
                    reason TEXT,
                    device_id TEXT,
                    kind TEXT,
                    reading_id INTEGER REFERENCES reading(id),
                    decided_at DATETIME NOT NULL,
                    PRIMARY KEY (inbox_id, item)
                ) WITHOUT ROWID;
                CREATE INDEX inbox_item_status ON inbox_item(status);
                CREATE INDEX inbox_item_quarantined ON inbox_item(device_id) WHERE status = 'quarantined';

                CREATE TABLE reading (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    device_id TEXT NOT NULL REFERENCES device(id),
                    kind TEXT NOT NULL,
                    measured_at DATETIME,
                    received_at DATETIME NOT NULL,
                    effective_at DATETIME NOT NULL,
                    clock_suspect BOOLEAN NOT NULL DEFAULT 0,
                    systolic REAL,
                    diastolic REAL,
                    map REAL,
                    pulse REAL,
                    glucose REAL,
                    weight REAL,
                    spo2 REAL,
                    temperature REAL,
                    original_unit TEXT NOT NULL,
                    original_values TEXT NOT NULL,
                    meal TEXT,
                    seq INTEGER,
                    message_id TEXT,
                    source TEXT NOT NULL,
                    inbox_id INTEGER NOT NULL REFERENCES inbox(id),
                    dedup_key TEXT UNIQUE
                );
                CREATE INDEX reading_patient_kind_time ON reading(patient_id, kind, effective_at);

                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at DATETIME NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    entity TEXT NOT NULL,
                    entity_id TEXT NOT NULL,
                    detail TEXT
                );
                CREATE INDEX audit_entity ON audit(entity, entity_id);
                """)
    }

    /// Each patient's care plan (templates and overrides) and the alerts it raises.
    private static func careplansAndAlerts(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE careplan (
                    patient_id TEXT PRIMARY KEY NOT NULL REFERENCES patient(id),
                    templates TEXT NOT NULL,
                    overrides TEXT NOT NULL DEFAULT '[]',
                    since DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    updated_by TEXT NOT NULL
                );

                CREATE TABLE alert (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    rule_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    level TEXT NOT NULL CHECK (level IN ('warning', 'urgent')),
                    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'snoozed', 'resolved')),
                    opened_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    count INTEGER NOT NULL,
                    first_value TEXT NOT NULL,
                    last_value TEXT NOT NULL,
                    threshold TEXT NOT NULL,
                    last_reading_id INTEGER REFERENCES reading(id),
                    last_seen_at DATETIME NOT NULL,
                    in_range_since DATETIME,
                    resolve_after REAL NOT NULL,
                    silenced_level TEXT,
                    acked_by TEXT,
                    acked_at DATETIME,
                    ack_note TEXT,
                    ack_minutes INTEGER,
                    snoozed_until DATETIME,
                    snoozed_by TEXT,
                    resolved_at DATETIME,
                    resolved_by TEXT
                );
                -- At most one alert per patient and rule that is not resolved.
                CREATE UNIQUE INDEX alert_one_open ON alert(patient_id, rule_id) WHERE state != 'resolved';
                CREATE INDEX alert_state ON alert(state);
                """)
    }

    /// Monitoring time for the CCM month (the ledger reads it; entries are voided, never deleted).
    private static func timeEntries(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE time_entry (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    start DATETIME NOT NULL,
                    minutes INTEGER NOT NULL CHECK (minutes > 0),
                    staff TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('clinical_staff', 'physician')),
                    program TEXT NOT NULL CHECK (program IN ('ccm', 'rpm', 'pcm')),
                    activity TEXT NOT NULL,
                    interactive BOOLEAN NOT NULL,
                    note TEXT,
                    source TEXT NOT NULL,
                    inbox_id INTEGER REFERENCES inbox(id),
                    dedup_key TEXT UNIQUE,
                    created_at DATETIME NOT NULL,
                    voided_at DATETIME,
                    voided_by TEXT,
                    void_reason TEXT
                );
                CREATE INDEX time_entry_patient_start ON time_entry(patient_id, start);
                """)
    }

    /// BLE: each device's sync state, and the health devices heard advertising.
    private static func ble(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE ble_sync (
                    device_id TEXT PRIMARY KEY NOT NULL REFERENCES device(id),
                    -- The highest Glucose Measurement sequence number in the inbox: the next
                    -- download asks for the records after it. Written with the inbox row.
                    last_glucose_seq INTEGER,
                    last_attempt_at DATETIME,
                    last_sync_at DATETIME,
                    last_error TEXT,
                    last_error_at DATETIME,
                    sessions INTEGER NOT NULL DEFAULT 0,
                    records INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE ble_discovered (
                    address TEXT PRIMARY KEY NOT NULL,
                    address_type TEXT NOT NULL CHECK (address_type IN ('public', 'random')),
                    name TEXT,
                    services TEXT NOT NULL,
                    rssi INTEGER,
                    first_seen DATETIME NOT NULL,
                    last_seen DATETIME NOT NULL
                );
                """)
    }

    /// The CCM month: programs and RPM start per patient, complexity per month, running timers.
    private static func billing(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE patient ADD COLUMN programs TEXT NOT NULL DEFAULT '[]';
                ALTER TABLE patient ADD COLUMN rpm_start TEXT;
                CREATE TABLE patient_month (
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    month TEXT NOT NULL CHECK (length(month) = 7),
                    complexity TEXT NOT NULL CHECK (complexity IN ('non-complex', 'complex')),
                    set_by TEXT NOT NULL,
                    set_at DATETIME NOT NULL,
                    PRIMARY KEY (patient_id, month)
                ) WITHOUT ROWID;
                CREATE TABLE time_timer (
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    staff TEXT NOT NULL,
                    started_at DATETIME NOT NULL,
                    role TEXT NOT NULL,
                    program TEXT NOT NULL,
                    activity TEXT NOT NULL,
                    interactive BOOLEAN NOT NULL,
                    note TEXT,
                    PRIMARY KEY (patient_id, staff)
                ) WITHOUT ROWID;
                CREATE INDEX reading_patient_time ON reading(patient_id, effective_at);
                """)
    }

    /// Inputs whose deciding failed (kept, with the reason, until `ccmctl inbox retry`); the
    /// device clock's offset a source measured; readings whose device time cannot be believed
    /// kept out of windowed rules; device times that cannot be stored as a timestamp kept as text.
    private static func robustPipeline(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE inbox ADD COLUMN failure TEXT;
                -- How far the device's clock was ahead (seconds), when the source measured it.
                ALTER TABLE inbox ADD COLUMN clock_offset REAL;
                CREATE INDEX inbox_failed ON inbox(id) WHERE failure IS NOT NULL;
                -- 0: the reading's time is not known well enough for rules over a window or the
                -- last N readings (an uncorrected suspect device clock); it is evaluated alone.
                ALTER TABLE reading ADD COLUMN windowed BOOLEAN NOT NULL DEFAULT 1;
                -- The device time as sent, when it is outside what can be stored as a time.
                ALTER TABLE reading ADD COLUMN measured_at_text TEXT;
                UPDATE reading SET windowed = 0 WHERE clock_suspect;
                -- Earlier versions stored any device time, even one SQLite cannot read back as a
                -- date (year 10000): keep it as text instead.
                UPDATE reading SET measured_at_text = measured_at, measured_at = NULL
                WHERE measured_at IS NOT NULL AND (typeof(measured_at) != 'text' OR measured_at NOT GLOB '[12][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]*');
                """)
    }

    /// An input line longer than `ingest.max_payload_bytes` is kept as its first bytes only:
    /// `payload_size` is then its whole size (NULL: the payload is whole).
    private static func inboxPayloadSize(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE inbox ADD COLUMN payload_size INTEGER")
    }

    /// The alert outbox: every alert event, stored in the transaction that caused it, and how far
    /// each sink (alert log, journal, MQTT) has delivered them, in id order. The log and the
    /// journal start at the first event; a sink without a row (MQTT) gets one at the newest
    /// event when it first runs.
    private static func alertOutbox(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE alert_event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at DATETIME NOT NULL,
                    alert_id INTEGER NOT NULL REFERENCES alert(id),
                    kind TEXT NOT NULL,
                    patient_id TEXT NOT NULL,
                    -- The event as the alert log's JSON line (without its id).
                    event TEXT NOT NULL
                );
                CREATE INDEX alert_event_alert ON alert_event(alert_id);
                CREATE TABLE alert_sink (
                    name TEXT PRIMARY KEY NOT NULL,
                    -- Every event with an id up to this one has been delivered to the sink.
                    delivered_through INTEGER NOT NULL DEFAULT 0,
                    delivered_at DATETIME,
                    -- For the log: the file the cursor counts in (the daemon's alerts.log, an
                    -- absolute path); a writer configured with another file leaves the events.
                    target TEXT
                ) WITHOUT ROWID;
                INSERT INTO alert_sink (name, delivered_through) VALUES ('log', 0), ('journal', 0);
                """)
    }

    /// Hubs (who the broker authenticated) and the patients each may post time for; the staff
    /// whose time bills. A time entry's id is unique per patient, whatever hub sent it: keys of
    /// earlier versions (`HUB|id:ID`) are rewritten as `PATIENT|id:ID` where that leaves them
    /// unique (a second copy sent through another hub keeps its old key, and counted before).
    private static func hubs(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE hub (
                    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
                    model TEXT,
                    created_at DATETIME NOT NULL,
                    disabled_at DATETIME,
                    disabled_by TEXT,
                    -- The broker password's PBKDF2-SHA512 hash as mosquitto_passwd writes it
                    -- ($7$...); never the password itself.
                    password_hash TEXT,
                    credentials_at DATETIME
                );
                CREATE TABLE hub_patient (
                    hub_id TEXT NOT NULL REFERENCES hub(id) ON DELETE CASCADE,
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    added_at DATETIME NOT NULL,
                    PRIMARY KEY (hub_id, patient_id)
                ) WITHOUT ROWID;
                CREATE TABLE staff (
                    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
                    role TEXT NOT NULL CHECK (role IN ('clinical_staff', 'physician')),
                    created_at DATETIME NOT NULL,
                    disabled_at DATETIME,
                    disabled_by TEXT
                );
                -- Hubs named by devices (--hub) are registered: they were trusted before hubs were.
                INSERT INTO hub (id, created_at) SELECT DISTINCT hub_id, CURRENT_TIMESTAMP FROM device WHERE hub_id IS NOT NULL;
                UPDATE OR IGNORE time_entry SET dedup_key = patient_id || substr(dedup_key, instr(dedup_key, '|id:'))
                WHERE instr(dedup_key, '|id:') > 0;
                """)
    }

    /// What a device says about a measurement: the flags of each reading (cuff Measurement
    /// Status, meter Sensor Status Annunciation), a multi-user device's user index and the
    /// patient each user index is, glucose sample type and location, control-solution tests
    /// (kept apart from readings), and the meter's record epoch: which numbering of its records a
    /// sequence number belongs to, so that a reset or wrapped meter's new records are never
    /// folded into old ones (glucose identity is device, epoch, sequence; epoch 0 keeps the old
    /// keys).
    private static func deviceMeaning(_ db: Database) throws {
        try db.execute(
            sql: """
                -- Space-separated flag names (body_movement irregular_pulse ...); NULL: none.
                ALTER TABLE reading ADD COLUMN flags TEXT;
                ALTER TABLE reading ADD COLUMN user_index INTEGER;
                ALTER TABLE reading ADD COLUMN sample_type TEXT;
                ALTER TABLE reading ADD COLUMN sample_location TEXT;
                ALTER TABLE reading ADD COLUMN epoch INTEGER;
                CREATE INDEX reading_device_seq ON reading(device_id, seq) WHERE seq IS NOT NULL;
                -- The meter's record epoch when the value was received (BLE); NULL: the current one.
                ALTER TABLE inbox ADD COLUMN device_epoch INTEGER;
                ALTER TABLE ble_sync ADD COLUMN glucose_epoch INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE ble_sync ADD COLUMN glucose_reset_at DATETIME;
                ALTER TABLE ble_sync ADD COLUMN glucose_reset_reason TEXT;
                CREATE TABLE device_user (
                    device_id TEXT NOT NULL REFERENCES device(id),
                    user_index INTEGER NOT NULL CHECK (user_index BETWEEN 0 AND 255),
                    patient_id TEXT NOT NULL REFERENCES patient(id),
                    assigned_at DATETIME NOT NULL,
                    PRIMARY KEY (device_id, user_index)
                ) WITHOUT ROWID;
                CREATE TABLE control_test (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    device_id TEXT NOT NULL REFERENCES device(id),
                    patient_id TEXT REFERENCES patient(id),
                    measured_at DATETIME,
                    received_at DATETIME NOT NULL,
                    glucose REAL NOT NULL,
                    original_unit TEXT NOT NULL,
                    original_value REAL NOT NULL,
                    sample_type TEXT,
                    sample_location TEXT,
                    flags TEXT,
                    seq INTEGER,
                    source TEXT NOT NULL,
                    inbox_id INTEGER NOT NULL REFERENCES inbox(id),
                    dedup_key TEXT UNIQUE
                );
                CREATE INDEX control_test_device ON control_test(device_id, measured_at);
                """)
    }

    /// BLE bonds the daemon keeps when bluetoothd does not (LTKs and IRKs, loaded into the kernel
    /// at start), the operator's pairing requests (with the passkey a meter shows), and the
    /// adapter as the daemon last saw it.
    /// The history of windowed rules reads windowed readings only: an index of those alone, so
    /// that a history query never walks over a patient's readings with unknown times (a cuff with
    /// a runaway clock can send thousands; each cost a row read per later reading).
    private static func readingWindowedHistory(_ db: Database) throws {
        try db.execute(
            sql: "CREATE INDEX reading_windowed_history ON reading(patient_id, kind, effective_at) WHERE windowed")
    }

    private static func bleBonds(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE ble_bond (
                    address TEXT NOT NULL,
                    address_type TEXT NOT NULL CHECK (address_type IN ('public', 'random')),
                    kind TEXT NOT NULL CHECK (kind IN ('ltk', 'irk')),
                    slot INTEGER NOT NULL,
                    -- The kernel's key record (management API layout); a secret, never logged.
                    key BLOB NOT NULL,
                    authenticated INTEGER NOT NULL,
                    created_at DATETIME NOT NULL,
                    PRIMARY KEY (address, kind, slot)
                ) WITHOUT ROWID;
                CREATE TABLE ble_pairing (
                    address TEXT PRIMARY KEY NOT NULL,
                    passkey INTEGER CHECK (passkey BETWEEN 0 AND 999999),
                    requested_at DATETIME NOT NULL,
                    expires_at DATETIME NOT NULL
                );
                CREATE TABLE ble_adapter (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    adapter TEXT,
                    address TEXT,
                    powered INTEGER NOT NULL,
                    settings TEXT NOT NULL,
                    owner TEXT NOT NULL,
                    detail TEXT,
                    updated_at DATETIME NOT NULL
                );
                """)
    }
}
