-- The knowledge base (issue 20): articles drafted from resolved tickets (cause and
-- solution) or written by experts, published by experts and managers, retired but kept
-- (still linked to their ticket). Search: a pg_trgm GIN index over the normalised text
-- finds candidates (substrings of three characters or more, which suits Chinese);
-- shorter terms are found as words (a GIN index on the short_terms array); the ranking is computed in src/domain/knowledge.rs.
-- Keep in step with ../sqlite/0021_knowledge.sql.
-- pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE articles (
    id BIGSERIAL PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    symptom TEXT NOT NULL,
    cause TEXT NOT NULL,
    solution TEXT NOT NULL,
    -- Normalised keywords, one a line.
    keywords TEXT NOT NULL,
    -- The resolved ticket it was drafted from (none when an expert wrote it).
    ticket_id BIGINT REFERENCES tickets (id),
    -- Title, symptom, keywords, cause and solution normalised (lowercase, full-width
    -- folded), as the trigram index searches it.
    search_text TEXT NOT NULL,
    -- Its one- and two-character terms (Han characters and pairs, short words):
    -- trigrams cannot find "打印" or "网", this word index can.
    short_terms TEXT[] NOT NULL,
    -- How many reporters it solved a fault for at intake.
    uses BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ,
    retired_at TIMESTAMPTZ
);
-- One article per ticket: a ticket resolved again after a reopen updates its draft.
CREATE UNIQUE INDEX articles_ticket ON articles (ticket_id);
CREATE INDEX articles_status ON articles (status, uses DESC, id);
CREATE INDEX articles_search ON articles USING gin (search_text gin_trgm_ops);
CREATE INDEX articles_short ON articles USING gin (short_terms);

-- An article's trail: who drafted, edited, published or retired it, and when.
CREATE TABLE article_events (
    id BIGSERIAL PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES articles (id),
    at TIMESTAMPTZ NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT
);
CREATE INDEX article_events_article ON article_events (article_id, id);

-- Articles offered at intake and what the reporter said: `self_solved` (no ticket was
-- filed: a deflection, with the article that solved it) or `declined` (the report went on).
CREATE TABLE kb_offers (
    id BIGSERIAL PRIMARY KEY,
    reporter_id BIGINT NOT NULL REFERENCES reporters (id),
    channel TEXT NOT NULL,
    category TEXT,
    -- The offered article ids, comma-separated, best first.
    offered TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('self_solved', 'declined')),
    article_id BIGINT REFERENCES articles (id),
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX kb_offers_at ON kb_offers (at);
