"""The bot database's schema: `MIGRATIONS[n]` takes a file from version n to n+1 (recorded in
`PRAGMA user_version`). Never edit a released step; add one."""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,            -- the config's source name
        url TEXT,                        -- http(s) URL or file:// URI
        sha256 TEXT,                     -- of the original bytes
        status TEXT NOT NULL CHECK (status IN ('taken', 'dreamt', 'failed', 'duplicate')),
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        credit_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX sources_url ON sources(url);
    CREATE INDEX sources_sha ON sources(sha256);

    CREATE TABLE dreams (
        id INTEGER PRIMARY KEY,
        post_key TEXT NOT NULL UNIQUE,   -- Post.post_id: idempotency keys derive from it
        source_id INTEGER REFERENCES sources(id),
        recipe_json TEXT NOT NULL,
        seed INTEGER,
        classes_json TEXT NOT NULL,      -- [[id, name, weight], ...]
        combo_key TEXT NOT NULL,
        file_path TEXT NOT NULL,
        caption TEXT NOT NULL,
        alt_text TEXT NOT NULL,
        tags_json TEXT NOT NULL DEFAULT '[]',
        source_url TEXT,
        title TEXT,
        created_at TEXT NOT NULL
    );

    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        dream_id INTEGER NOT NULL REFERENCES dreams(id),
        publisher TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'intended', 'confirmed', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        remote_id TEXT,
        url TEXT,
        error TEXT,
        transient INTEGER,
        retry_at TEXT,
        updated_at TEXT NOT NULL,
        UNIQUE (dream_id, publisher)
    );

    CREATE TABLE cycles (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,                    -- 'posted', 'idle', 'failed'
        error TEXT,
        admin_notified INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 1 -> 2: dream requests (bot/requests)
    """
    CREATE TABLE cursors (
        name TEXT PRIMARY KEY,           -- e.g. 'mastodon:notifications'
        min_id TEXT NOT NULL,            -- the newest item handled (the next poll asks above it)
        updated_at TEXT NOT NULL
    );

    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        status_id TEXT NOT NULL UNIQUE,  -- the request status: handled once, however often seen
        notification_id TEXT,
        account_id TEXT NOT NULL,
        acct TEXT NOT NULL,              -- user or user@host, as the server names them
        visibility TEXT NOT NULL,
        thread_key TEXT NOT NULL,        -- the status id that began the chain with the bot
        state TEXT NOT NULL CHECK (state IN
            ('accepted', 'rendering', 'rendered', 'refusing', 'replied', 'refused', 'ignored')),
        reply_key TEXT NOT NULL UNIQUE,  -- idempotency key and ref- marker of the reply
        status_json TEXT NOT NULL,       -- the request status as received
        classes_json TEXT,               -- [[id, name, weight], ...] once parsed
        refusal TEXT,                    -- why it was refused or ignored (a kind, e.g. 'unknown')
        reply_text TEXT,                 -- the reply's text, fixed before the first attempt
        dream_path TEXT,
        reply_attempts INTEGER NOT NULL DEFAULT 0,
        reply_id TEXT,
        reply_url TEXT,
        ack_id TEXT,                     -- the optional "queued" reply
        failures INTEGER NOT NULL DEFAULT 0,  -- unexpected errors while preparing it
        error TEXT,
        retry_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX requests_state ON requests(state);
    CREATE INDEX requests_account ON requests(account_id, created_at);
    CREATE INDEX requests_thread ON requests(thread_key);
    """,
    # 2 -> 3: a crash is not a failure (crashes counted apart, sources can be "interrupted"),
    # dreamt-but-not-filed sources, and a list of what ended without being posted
    """
    CREATE TABLE sources_v3 (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        url TEXT,
        sha256 TEXT,
        status TEXT NOT NULL CHECK (status IN ('taken', 'dreamt', 'failed', 'duplicate', 'interrupted')),
        attempts INTEGER NOT NULL DEFAULT 0,  -- dreams of it that failed with an error
        crashes INTEGER NOT NULL DEFAULT 0,   -- dreams of it in a row that the process died in
        filed INTEGER NOT NULL DEFAULT 1,     -- 0: dreamt, but not yet moved out of its folder
        error TEXT,
        credit_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    INSERT INTO sources_v3 (id, source, url, sha256, status, attempts, error, credit_json, created_at, updated_at)
        SELECT id, source, url, sha256, status, attempts, error, credit_json, created_at, updated_at FROM sources;
    UPDATE sources_v3 SET status = 'interrupted', attempts = MAX(attempts - 1, 0), crashes = 1
        WHERE status = 'failed' AND error = 'interrupted before the dream was saved';
    DROP TABLE sources;
    ALTER TABLE sources_v3 RENAME TO sources;
    CREATE INDEX sources_url ON sources(url);
    CREATE INDEX sources_sha ON sources(sha256);

    ALTER TABLE posts ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;   -- attempts in a row the process died in
    ALTER TABLE posts ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;  -- attempts in a row that failed (backoff)

    ALTER TABLE requests ADD COLUMN busy TEXT;                          -- 'dream' or 'reply' while in progress
    ALTER TABLE requests ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE requests ADD COLUMN retries INTEGER NOT NULL DEFAULT 0; -- transient failures in a row (backoff)

    CREATE TABLE ended (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('photo', 'post', 'request')),
        what TEXT NOT NULL,              -- which one, in words
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL,
        notified_at TEXT                 -- when the admin was told
    );
    """,
    # 3 -> 4: dive videos (issue 16): a dream may be a video (its file_path the poster frame),
    # and a dive being made is recorded before its first keyframe, so a crash resumes it
    """
    ALTER TABLE dreams ADD COLUMN video_path TEXT;  -- the dive's video (NULL for a picture)

    CREATE TABLE dives (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,            -- the photo's (the same photo taken again resumes the dive)
        post_key TEXT NOT NULL UNIQUE,
        seed INTEGER NOT NULL,
        combo_key TEXT NOT NULL,
        classes_json TEXT NOT NULL,      -- [[id, name, weight], ...]
        video_path TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('making', 'made')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX dives_sha ON dives(sha256, state);

    ALTER TABLE requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'dream';  -- 'dream' or 'dive'
    """,
    # 4 -> 5: polls for the next mutant (issue 30, bot/store/polls.py)
    """
    CREATE TABLE polls (
        id INTEGER PRIMARY KEY,
        poll_key TEXT NOT NULL UNIQUE,   -- idempotency key and ref- marker of the poll's status
        state TEXT NOT NULL CHECK (state IN ('drawn', 'open', 'closed', 'used', 'ended')),
        options_json TEXT NOT NULL,      -- [{"classes": [[id, name, weight], ...], "seed": n}, ...]
        seconds INTEGER NOT NULL,        -- how long it stays open
        attempts INTEGER NOT NULL DEFAULT 0,  -- tries at posting it (after one, the bot looks first)
        failures INTEGER NOT NULL DEFAULT 0,  -- of those, failed in a row (the backoff grows)
        retry_at TEXT,
        status_id TEXT,
        url TEXT,
        remote_id TEXT,                  -- the poll's own id on the server
        closes_at TEXT,                  -- when the server ends it
        votes_json TEXT,                 -- each option's votes, read once when it closed
        winner INTEGER,                  -- index of the winning option
        how TEXT,                        -- 'votes', 'tie' or 'no votes'
        dream_id INTEGER REFERENCES dreams(id),  -- the winner's dream
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX polls_one_running ON polls ((state IN ('drawn', 'open', 'closed')))
        WHERE state IN ('drawn', 'open', 'closed')
    """,
    # 5 -> 6: remix by reply (issue 30): the photo behind each post is kept (for
    # requests.remix_keep_days), and a request may be a remix of one of the bot's posts
    """
    ALTER TABLE dreams ADD COLUMN source_photo TEXT;  -- the photo it was dreamt from, kept for remixes (NULL: gone)

    ALTER TABLE requests ADD COLUMN remix_of TEXT;    -- the bot's status a remix replies to (NULL: a photo request)
    ALTER TABLE requests ADD COLUMN source_key TEXT;  -- a remix: post_key of the dream whose kept photo it dreams
    ALTER TABLE requests ADD COLUMN recipe_json TEXT; -- a remix: the recipe it was dreamt with (seed, strength...)
    CREATE INDEX requests_reply ON requests(reply_id);
    CREATE INDEX posts_remote ON posts(publisher, remote_id);
    """,
    # 6 -> 7: conditional GET of feeds (bot/store/feeds.py): each feed's validators and the body
    # they stand for, read again after a 304
    """
    CREATE TABLE feeds (
        feed TEXT PRIMARY KEY,           -- the address the config gives
        url TEXT NOT NULL,               -- after redirects: the base of relative links
        content_type TEXT,
        body BLOB NOT NULL,
        etag TEXT,                       -- sent back as If-None-Match
        modified TEXT,                   -- Last-Modified, sent back as If-Modified-Since
        updated_at TEXT NOT NULL
    );
    """,
]


SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; split on ';' instead (no ';' inside strings here).
    out = []
    for chunk in script.split(";"):
        lines = [ln.split("--", 1)[0] for ln in chunk.splitlines()]
        stmt = "\n".join(lines).strip()
        if stmt:
            out.append(stmt)
    return out
