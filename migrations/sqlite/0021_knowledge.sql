-- The knowledge base (issue 20): articles drafted from resolved tickets (cause and
-- solution) or written by experts, published by experts and managers, retired but kept
-- (still linked to their ticket). Search: an FTS5 trigram index over the normalised
-- text finds candidates (substrings of three characters or more, which suits Chinese);
-- shorter terms are words of a second FTS5 table (unicode61); the ranking is computed in src/domain/knowledge.rs.
-- Keep in step with ../postgres/0021_knowledge.sql.
CREATE TABLE articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    symptom TEXT NOT NULL,
    cause TEXT NOT NULL,
    solution TEXT NOT NULL,
    -- Normalised keywords, one a line.
    keywords TEXT NOT NULL,
    -- The resolved ticket it was drafted from (none when an expert wrote it).
    ticket_id INTEGER REFERENCES tickets (id),
    -- Title, symptom, keywords, cause and solution normalised (lowercase, full-width
    -- folded), as the trigram index searches it.
    search_text TEXT NOT NULL,
    -- Its one- and two-character terms (Han characters and pairs, short words),
    -- space-separated: trigrams cannot find "打印" or "网", this word index can.
    short_terms TEXT NOT NULL,
    -- How many reporters it solved a fault for at intake.
    uses INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_at TEXT,
    retired_at TEXT
);
-- One article per ticket: a ticket resolved again after a reopen updates its draft.
CREATE UNIQUE INDEX articles_ticket ON articles (ticket_id);
CREATE INDEX articles_status ON articles (status, uses DESC, id);

CREATE VIRTUAL TABLE articles_fts USING fts5 (
    search_text, content = 'articles', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF search_text ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    INSERT INTO articles_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
END;

CREATE VIRTUAL TABLE articles_short USING fts5 (
    short_terms, content = 'articles', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER articles_short_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_short (rowid, short_terms) VALUES (new.id, new.short_terms);
END;
CREATE TRIGGER articles_short_update AFTER UPDATE OF short_terms ON articles BEGIN
    INSERT INTO articles_short (articles_short, rowid, short_terms)
        VALUES ('delete', old.id, old.short_terms);
    INSERT INTO articles_short (rowid, short_terms) VALUES (new.id, new.short_terms);
END;
CREATE TRIGGER articles_short_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_short (articles_short, rowid, short_terms)
        VALUES ('delete', old.id, old.short_terms);
END;

-- An article's trail: who drafted, edited, published or retired it, and when.
CREATE TABLE article_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id INTEGER NOT NULL REFERENCES articles (id),
    at TEXT NOT NULL,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter_id INTEGER NOT NULL REFERENCES reporters (id),
    channel TEXT NOT NULL,
    category TEXT,
    -- The offered article ids, comma-separated, best first.
    offered TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('self_solved', 'declined')),
    article_id INTEGER REFERENCES articles (id),
    at TEXT NOT NULL
);
CREATE INDEX kb_offers_at ON kb_offers (at);
