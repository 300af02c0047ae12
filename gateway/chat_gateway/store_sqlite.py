"""Conversations in one SQLite file (the local stack): WAL mode, one transaction per call."""

from __future__ import annotations

import builtins
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from chat_gateway import store
from chat_gateway.store import (
    Clock,
    Conversation,
    Message,
    Page,
    Preset,
    StoreError,
    TooMany,
    Unavailable,
    check_append,
    check_id,
    check_preset_id,
    check_text,
    clean_instructions,
    clean_preset,
    clean_title,
    decode_cursor,
    encode_cursor,
    not_found,
    preset_not_found,
    timestamp,
    too_many_presets,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    user TEXT NOT NULL,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    title_search TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    PRIMARY KEY (user, id)
);
CREATE INDEX IF NOT EXISTS conversations_by_updated
    ON conversations (user, updated_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS messages (
    user TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    stopped INTEGER NOT NULL,
    PRIMARY KEY (user, conversation_id, seq)
);
CREATE TABLE IF NOT EXISTS presets (
    user TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    instructions TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user, id)
);
"""
#: Columns added after the first release: a file made before gets them on open.
ADDED_COLUMNS = {
    "instructions": "TEXT NOT NULL DEFAULT ''",
    "title_source": "TEXT NOT NULL DEFAULT ''",
}
CONVERSATION_COLUMNS = "id, title, created_at, updated_at, instructions, title_source"
PRESET_COLUMNS = "id, name, instructions, created_at, updated_at"
#: How long a call waits for another writer (another thread, another process) to finish.
BUSY_TIMEOUT_S = 30.0


class SqliteStore:
    """`ConversationStore` over one file. A connection per call, so any thread may call."""

    def __init__(self, path: str | Path, clock: Clock = time.time) -> None:
        self.path = Path(path).expanduser()
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as connection:
            # WAL lets readers go on while one writer commits; the mode is kept in the file.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            have = {row[1] for row in connection.execute("PRAGMA table_info(conversations)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:
                    connection.execute(f"ALTER TABLE conversations ADD COLUMN {column} {kind}")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we say BEGIN ourselves, so each call is exactly one transaction.
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction; writes take the write lock first (BEGIN IMMEDIATE), so a
        read-then-write (a count, then an insert) cannot be overtaken by another writer."""
        with self.connect() as connection:
            try:
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:  # still locked after BUSY_TIMEOUT_S
                raise Unavailable(
                    f"The conversations database {self.path} is busy ({exc}); try again."
                ) from None
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def create(self, user: str, title: str = "", instructions: str = "") -> Conversation:
        title = clean_title(title, required=False)
        instructions = clean_instructions(instructions)
        source = "user" if title else ""
        now = timestamp(self.clock)
        conversation = Conversation(uuid.uuid4().hex, title, now, now, instructions, source)
        with self.transaction(write=True) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM conversations WHERE user = ?", (user,)
            ).fetchone()
            if count >= store.MAX_CONVERSATIONS:
                raise TooMany(
                    f"You keep {count} conversations, the most there can be; "
                    "delete some to start a new one."
                )
            db.execute(
                "INSERT INTO conversations (user, id, title, title_search, created_at, "
                "updated_at, next_seq, instructions, title_source) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (user, conversation.id, title, title.casefold(), now, now, instructions, source),
            )
        return conversation

    def list(
        self, user: str, *, limit: int = 50, cursor: str | None = None, query: str = ""
    ) -> Page:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise StoreError("'limit' must be a whole number of at least 1.")
        sql = f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user = ?"
        args: builtins.list[object] = [user]
        if cursor:
            updated_at, last_id = decode_cursor(cursor)
            sql += " AND (updated_at < ? OR (updated_at = ? AND id < ?))"
            args += [updated_at, updated_at, last_id]
        if query:
            # instr, not LIKE: a % or _ in the query is text to find, not a pattern.
            sql += " AND instr(title_search, ?) > 0"
            args.append(check_text(query, "'q'").casefold())
        # One row more than asked for tells whether there is a next page.
        sql += " ORDER BY updated_at DESC, id DESC LIMIT ?"
        args.append(limit + 1)
        with self.transaction(write=False) as db:
            rows = db.execute(sql, args).fetchall()
        conversations = [Conversation(*row) for row in rows[:limit]]
        last = conversations[-1] if len(rows) > limit else None
        return Page(conversations, encode_cursor(last.updated_at, last.id) if last else None)

    def get(self, user: str, conversation_id: str) -> tuple[Conversation, builtins.list[Message]]:
        check_id(conversation_id)
        with self.transaction(write=False) as db:
            conversation = self._conversation(db, user, conversation_id)
            rows = db.execute(
                "SELECT role, content, created_at, stopped FROM messages "
                "WHERE user = ? AND conversation_id = ? ORDER BY seq",
                (user, conversation_id),
            ).fetchall()
        messages = [
            Message(role, content, created, bool(stopped))
            for role, content, created, stopped in rows
        ]
        return conversation, messages

    def rename(self, user: str, conversation_id: str, title: str) -> Conversation:
        check_id(conversation_id)
        title = clean_title(title, required=True)
        with self.transaction(write=True) as db:
            db.execute(
                "UPDATE conversations SET title = ?, title_search = ?, title_source = 'user' "
                "WHERE user = ? AND id = ?",
                (title, title.casefold(), user, conversation_id),
            )
            return self._conversation(db, user, conversation_id)

    def name_by_model(self, user: str, conversation_id: str, title: str) -> Conversation:
        check_id(conversation_id)
        title = clean_title(title, required=True)
        with self.transaction(write=True) as db:
            db.execute(
                "UPDATE conversations SET title = ?, title_search = ?, title_source = 'model' "
                "WHERE user = ? AND id = ? AND title_source != 'user'",
                (title, title.casefold(), user, conversation_id),
            )
            return self._conversation(db, user, conversation_id)

    def set_instructions(self, user: str, conversation_id: str, instructions: str) -> Conversation:
        check_id(conversation_id)
        instructions = clean_instructions(instructions)
        with self.transaction(write=True) as db:
            db.execute(
                "UPDATE conversations SET instructions = ? WHERE user = ? AND id = ?",
                (instructions, user, conversation_id),
            )
            return self._conversation(db, user, conversation_id)

    def presets(self, user: str) -> builtins.list[Preset]:
        with self.transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {PRESET_COLUMNS} FROM presets WHERE user = ? ORDER BY created_at, id",
                (user,),
            ).fetchall()
        return [Preset(*row) for row in rows]

    def save_preset(
        self, user: str, name: str, instructions: str, preset_id: str | None = None
    ) -> Preset:
        name, instructions = clean_preset(name, instructions)
        now = timestamp(self.clock)
        with self.transaction(write=True) as db:
            if preset_id is None:
                (count,) = db.execute(
                    "SELECT count(*) FROM presets WHERE user = ?", (user,)
                ).fetchone()
                if count >= store.MAX_PRESETS:
                    raise too_many_presets()
                preset_id = uuid.uuid4().hex
                db.execute(
                    f"INSERT INTO presets (user, {PRESET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (user, preset_id, name, instructions, now, now),
                )
            elif not db.execute(
                "UPDATE presets SET name = ?, instructions = ?, updated_at = ? "
                "WHERE user = ? AND id = ?",
                (name, instructions, now, user, check_preset_id(preset_id)),
            ).rowcount:
                raise preset_not_found(preset_id)
            row = db.execute(
                f"SELECT {PRESET_COLUMNS} FROM presets WHERE user = ? AND id = ?",
                (user, preset_id),
            ).fetchone()
        return Preset(*row)

    def delete_preset(self, user: str, preset_id: str) -> None:
        check_preset_id(preset_id)
        with self.transaction(write=True) as db:
            if not db.execute(
                "DELETE FROM presets WHERE user = ? AND id = ?", (user, preset_id)
            ).rowcount:
                raise preset_not_found(preset_id)

    def delete(self, user: str, conversation_id: str) -> None:
        check_id(conversation_id)
        with self.transaction(write=True) as db:
            gone = db.execute(
                "DELETE FROM conversations WHERE user = ? AND id = ?", (user, conversation_id)
            ).rowcount
            if not gone:
                raise not_found(conversation_id)
            db.execute(
                "DELETE FROM messages WHERE user = ? AND conversation_id = ?",
                (user, conversation_id),
            )

    def append(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        *,
        keep: int | None = None,
        title: str = "",
    ) -> Conversation:
        check_id(conversation_id)
        title = clean_title(title, required=False)
        now = timestamp(self.clock)
        key = (user, conversation_id)
        with self.transaction(write=True) as db:
            row = db.execute(
                "SELECT next_seq FROM conversations WHERE user = ? AND id = ?", key
            ).fetchone()
            if row is None:
                raise not_found(conversation_id)
            (next_seq,) = row
            seqs = [
                seq
                for (seq,) in db.execute(
                    "SELECT seq FROM messages WHERE user = ? AND conversation_id = ? ORDER BY seq",
                    key,
                )
            ]
            kept = check_append(messages, keep, len(seqs))
            if kept < len(seqs):
                db.execute(
                    "DELETE FROM messages WHERE user = ? AND conversation_id = ? AND seq >= ?",
                    (*key, seqs[kept]),
                )
            # Numbers only grow (never reused after an edit), as in the DynamoDB store.
            db.executemany(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (*key, next_seq + offset, m.role, m.content, now, int(m.stopped))
                    for offset, m in enumerate(messages)
                ],
            )
            db.execute(
                "UPDATE conversations SET next_seq = ?, updated_at = ?, "
                "title_source = CASE WHEN title = '' AND ? != '' THEN 'first' "
                "ELSE title_source END, "
                "title = CASE title WHEN '' THEN ? ELSE title END, "
                "title_search = CASE title WHEN '' THEN ? ELSE title_search END "
                "WHERE user = ? AND id = ?",
                (next_seq + len(messages), now, title, title, title.casefold(), *key),
            )
            return self._conversation(db, user, conversation_id)

    @staticmethod
    def _conversation(db: sqlite3.Connection, user: str, conversation_id: str) -> Conversation:
        row = db.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user = ? AND id = ?",
            (user, conversation_id),
        ).fetchone()
        if row is None:
            raise not_found(conversation_id)
        return Conversation(*row)
