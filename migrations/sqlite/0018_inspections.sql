-- Preventive inspections (巡检): plan 000 inspects every device twice a year with ≥ 90 %
-- completed and a check report signed by the user; plan 003 quarterly. A plan generates
-- one job per period (the unique key makes that exactly once, however many instances
-- run the scheduler); the job is offered to the plan's group and worked check by check.
-- Keep in step with ../postgres/0018_inspections.sql.
CREATE TABLE inspection_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    site TEXT NOT NULL,
    -- Buildings or rooms covered, a JSON list of texts.
    buildings TEXT NOT NULL DEFAULT '[]',
    scope TEXT,
    -- For the asset register, later: the asset group the plan covers.
    asset_group TEXT,
    group_id TEXT NOT NULL,
    -- Faults found are filed in this category, for this department and phone.
    category TEXT NOT NULL,
    department TEXT NOT NULL,
    phone TEXT NOT NULL,
    frequency TEXT NOT NULL CHECK (frequency IN ('half_yearly', 'quarterly', 'monthly')),
    target_pct INTEGER NOT NULL CHECK (target_pct BETWEEN 1 AND 100),
    units INTEGER NOT NULL CHECK (units > 0),
    -- The checks in order, JSON: [{"zh-CN": "…", "en": "…"}].
    checklist TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'retired')),
    -- When the scheduler next opens a job (the start of a period with none yet).
    next_due_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX inspection_plans_due ON inspection_plans (next_due_at) WHERE status = 'active';

CREATE TABLE inspection_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id INTEGER NOT NULL REFERENCES inspection_plans (id),
    -- The period's label: 2026-H2, 2026-Q4, 2026-12.
    period TEXT NOT NULL,
    period_start TEXT NOT NULL,
    due_at TEXT NOT NULL,
    group_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('offered', 'in_progress', 'done')),
    assignee_id INTEGER REFERENCES engineers (id),
    -- The plan's checks and figures when the job was opened (a later edit of the plan
    -- does not change a job under way).
    checklist TEXT NOT NULL,
    units_planned INTEGER NOT NULL,
    target_pct INTEGER NOT NULL,
    units_inspected INTEGER,
    signed_by TEXT,
    created_at TEXT NOT NULL,
    accepted_at TEXT,
    finished_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (plan_id, period)
);
CREATE INDEX inspection_jobs_period ON inspection_jobs (period_start);
CREATE INDEX inspection_jobs_group ON inspection_jobs (group_id, status);

-- One row per check recorded; a fault found links the ticket it filed.
CREATE TABLE inspection_results (
    job_id INTEGER NOT NULL REFERENCES inspection_jobs (id),
    n INTEGER NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('pass', 'fault')),
    note TEXT,
    ticket_id INTEGER REFERENCES tickets (id),
    engineer_id INTEGER NOT NULL REFERENCES engineers (id),
    at TEXT NOT NULL,
    PRIMARY KEY (job_id, n)
);
-- A ticket came from at most one check: the ticket → inspection link.
CREATE UNIQUE INDEX inspection_results_ticket ON inspection_results (ticket_id)
    WHERE ticket_id IS NOT NULL;

-- The trail of plans and jobs: who, when, from → to.
CREATE TABLE inspection_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id INTEGER NOT NULL REFERENCES inspection_plans (id),
    job_id INTEGER REFERENCES inspection_jobs (id),
    at TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT
);
CREATE INDEX inspection_events_plan ON inspection_events (plan_id, id);
CREATE INDEX inspection_events_job ON inspection_events (job_id, id);
