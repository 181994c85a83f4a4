-- The asset register (issue 20): one row per device, keyed by its normalised tag
-- (upper-case ASCII, as `domain::asset::normalise_tag` makes it). Tickets keep the tag they
-- were reported with (tickets.asset_tag), which is how an asset's history is found.
-- Keep in step with ../postgres/0020_assets.sql.
CREATE TABLE assets (
    tag TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    model TEXT,
    serial TEXT,
    ip TEXT,
    mac TEXT,
    site TEXT,
    building TEXT,
    room TEXT,
    owner TEXT,
    department TEXT,
    purchased_on DATE,
    warranty_until DATE,
    status TEXT NOT NULL CHECK (status IN ('in_use', 'spare', 'on_loan', 'under_repair', 'retired')),
    notes TEXT,
    -- Set once when repeat faults (3 in 90 days) told the managers to consider replacing it.
    replacement_advised_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX assets_ip ON assets (ip);
CREATE INDEX assets_warranty ON assets (warranty_until);
