-- Preventive inspections (巡检): plan 000 inspects every device twice a year with ≥ 90 %
-- completed and a check report signed by the user; plan 003 quarterly. A plan generates
-- one job per period (the unique key makes that exactly once, however many instances
-- run the scheduler); the job is offered to the plan's group and worked check by check.
-- Keep in step with ../sqlite/0018_inspections.sql.
CREATE TABLE inspection_plans (
    id BIGSERIAL PRIMARY KEY,
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
    target_pct BIGINT NOT NULL CHECK (target_pct BETWEEN 1 AND 100),
    units BIGINT NOT NULL CHECK (units > 0),
    -- The checks in order, JSON: [{"zh-CN": "…", "en": "…"}].
    checklist TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'retired')),
    -- When the scheduler next opens a job (the start of a period with none yet).
    next_due_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX inspection_plans_due ON inspection_plans (next_due_at) WHERE status = 'active';

CREATE TABLE inspection_jobs (
    id BIGSERIAL PRIMARY KEY,
    plan_id BIGINT NOT NULL REFERENCES inspection_plans (id),
    -- The period's label: 2026-H2, 2026-Q4, 2026-12.
    period TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    group_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('offered', 'in_progress', 'done')),
    assignee_id BIGINT REFERENCES engineers (id),
    -- The plan's checks and figures when the job was opened (a later edit of the plan
    -- does not change a job under way).
    checklist TEXT NOT NULL,
    units_planned BIGINT NOT NULL,
    target_pct BIGINT NOT NULL,
    units_inspected BIGINT,
    signed_by TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    version BIGINT NOT NULL DEFAULT 1,
    UNIQUE (plan_id, period)
);
CREATE INDEX inspection_jobs_period ON inspection_jobs (period_start);
CREATE INDEX inspection_jobs_group ON inspection_jobs (group_id, status);

-- One row per check recorded; a fault found links the ticket it filed.
CREATE TABLE inspection_results (
    job_id BIGINT NOT NULL REFERENCES inspection_jobs (id),
    n BIGINT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('pass', 'fault')),
    note TEXT,
    ticket_id BIGINT REFERENCES tickets (id),
    engineer_id BIGINT NOT NULL REFERENCES engineers (id),
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, n)
);
-- A ticket came from at most one check: the ticket → inspection link.
CREATE UNIQUE INDEX inspection_results_ticket ON inspection_results (ticket_id)
    WHERE ticket_id IS NOT NULL;

-- The trail of plans and jobs: who, when, from → to.
CREATE TABLE inspection_events (
    id BIGSERIAL PRIMARY KEY,
    plan_id BIGINT NOT NULL REFERENCES inspection_plans (id),
    job_id BIGINT REFERENCES inspection_jobs (id),
    at TIMESTAMPTZ NOT NULL,
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
