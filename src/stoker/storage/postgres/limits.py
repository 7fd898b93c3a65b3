"""Concurrency slots and rate-limited starts on PostgreSQL: admit, release_slot, promote_waiting.

Each step is one transaction that first takes an advisory lock per key (held to the commit),
so steps on one key run one after another and each reads what the one before committed (READ
COMMITTED: every statement after the lock takes a fresh snapshot). A job parked for a slot is
thus always seen by the release that frees one: no lost wake-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from stoker.core import reasons
from stoker.core.limits import RESERVATION_GRACE
from stoker.core.records import Admission, Gate, StateChange
from stoker.core.states import Enqueued
from stoker.storage.postgres.db import Conn, PostgresBase, parse_job_id
from stoker.storage.postgres.params import change_states_params

LIMIT_LOCK_CLASS = 0x570CE5  # advisory lock (class, hashtext(schema:c|r:key)) of a limit key
NOT_ADMITTED = Admission(admitted=False)
ADMITTED = Admission(admitted=True)

LIMIT_QUERIES: dict[str, str] = {
    "limit_lock": "SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(key)s))",
    "claim_of": "SELECT state, state_id FROM {s}.job WHERE id = %(id)s",
    # A slot counts while its job is Enqueued or Processing (see Storage.release_slot).
    "live_slots": """
        SELECT count(*) FROM {s}.concurrency_slot AS c JOIN {s}.job AS j ON j.id = c.job_id
        WHERE c.key = %(key)s AND c.job_id <> %(id)s AND j.state IN ('Enqueued', 'Processing')""",
    "prune_slots": """
        DELETE FROM {s}.concurrency_slot AS c WHERE c.key = %(key)s AND NOT EXISTS (
            SELECT FROM {s}.job AS j
            WHERE j.id = c.job_id AND j.state IN ('Enqueued', 'Processing'))""",
    "count_slots": "SELECT count(*) FROM {s}.concurrency_slot WHERE key = %(key)s",
    "take_slot": """
        INSERT INTO {s}.concurrency_slot (job_id, key, state_id)
        VALUES (%(id)s, %(key)s, %(sid)s)
        ON CONFLICT (job_id) DO UPDATE SET key = excluded.key, state_id = excluded.state_id""",
    "take_current_slot": """
        INSERT INTO {s}.concurrency_slot (job_id, key, state_id)
        SELECT id, %(key)s, state_id FROM {s}.job WHERE id = %(id)s
        ON CONFLICT (job_id) DO UPDATE SET key = excluded.key, state_id = excluded.state_id""",
    # The common cases in one statement each (see PostgresLimits._take_free_slot):
    "take_free_slot": """
        INSERT INTO {s}.concurrency_slot (job_id, key, state_id)
        SELECT %(id)s, %(key)s, %(sid)s
        WHERE EXISTS (
                SELECT FROM {s}.job
                WHERE id = %(id)s AND state = 'Processing' AND state_id = %(sid)s)
            AND NOT EXISTS (SELECT FROM {s}.concurrency_wait WHERE key = %(key)s)
            AND (SELECT count(*) FROM {s}.concurrency_slot AS c JOIN {s}.job AS j
                ON j.id = c.job_id
                WHERE c.key = %(key)s AND c.job_id <> %(id)s
                    AND j.state IN ('Enqueued', 'Processing')) < %(n)s
        ON CONFLICT (job_id) DO UPDATE SET key = excluded.key, state_id = excluded.state_id
        RETURNING job_id""",
    "promotable": """
        SELECT w.concurrency > (SELECT count(*) FROM {s}.concurrency_slot WHERE key = %(key)s)
        FROM {s}.concurrency_wait AS w WHERE w.key = %(key)s ORDER BY w.seq LIMIT 1""",
    "drop_slot": """
        DELETE FROM {s}.concurrency_slot
        WHERE job_id = %(id)s AND key = %(key)s AND state_id = %(sid)s""",
    "join_line": """
        WITH gone AS (DELETE FROM {s}.concurrency_wait WHERE job_id = %(id)s)
        INSERT INTO {s}.concurrency_wait (key, job_id, state_id, concurrency)
        SELECT %(key)s, %(id)s, state_id, %(n)s FROM {s}.job WHERE id = %(id)s""",
    "first_waiter": """
        SELECT w.seq, w.job_id, w.state_id, w.concurrency, j.queue
        FROM {s}.concurrency_wait AS w LEFT JOIN {s}.job AS j ON j.id = w.job_id
        WHERE w.key = %(key)s ORDER BY w.seq LIMIT 1""",
    "leave_line": "DELETE FROM {s}.concurrency_wait WHERE seq = %(seq)s",
    "has_line": "SELECT EXISTS (SELECT FROM {s}.concurrency_wait WHERE key = %(key)s)",
    # In random order: with more keys than one call takes, every key gets its turn.
    "waiting_keys": """
        SELECT key FROM (SELECT DISTINCT key FROM {s}.concurrency_wait) AS k
        ORDER BY random() LIMIT %(limit)s""",
    # rate_start: a row with a job_id is a start reserved for that job, one without a start made.
    "reserved": "SELECT id, at FROM {s}.rate_start WHERE job_id = %(id)s AND key = %(key)s",
    "use_reservation": "UPDATE {s}.rate_start SET job_id = NULL, at = %(at)s WHERE id = %(rid)s",
    "move_reservation": "UPDATE {s}.rate_start SET at = %(at)s WHERE id = %(rid)s",
    "prune_starts": """
        DELETE FROM {s}.rate_start WHERE key = %(key)s AND at <= %(before)s
            AND (job_id IS NULL OR at <= %(forgotten)s)""",
    "starts_made": """
        SELECT count(*), (SELECT at FROM {s}.rate_start WHERE key = %(key)s AND job_id IS NULL
            ORDER BY at DESC OFFSET %(nth)s LIMIT 1)
        FROM {s}.rate_start WHERE key = %(key)s AND job_id IS NULL AND at > %(since)s""",
    "latest_starts": """
        SELECT max(at), (SELECT at FROM {s}.rate_start WHERE key = %(key)s
            ORDER BY at DESC OFFSET %(nth)s LIMIT 1)
        FROM {s}.rate_start WHERE key = %(key)s""",
    "record_start": """
        INSERT INTO {s}.rate_start (key, at, job_id) VALUES (%(key)s, %(at)s, %(id)s)""",
}


class PostgresLimits(PostgresBase):
    """Storage.admit, release_slot and promote_waiting, each one transaction."""

    def admit(self, gate: Gate) -> Admission:
        num = parse_job_id(gate.job_id)
        if num is None:
            return NOT_ADMITTED
        if gate.concurrency_key is not None and gate.rate_key is None:
            taken = self._db.run(lambda conn: self._take_free_slot(conn, gate, num))
            if taken:
                return ADMITTED
        # Not resent after a lost reply when a rate key is involved: a resend would record
        # its start twice, or find the reservation it used gone.
        resend = gate.rate_key is None
        return self._db.run(
            lambda conn: self._admit(conn, gate, num), transaction=True, idempotent=resend
        )

    def _take_free_slot(self, conn: Conn, gate: Gate, num: int) -> bool:
        """The common case in one round trip: the key's lock and the slot taken if one is free
        (pipelined under one Sync, so one implicit transaction holds the lock while the
        statement after it reads with a fresh snapshot). Anything else (no slot free, the
        claim gone) is left to the full check, which looks again."""
        params = {"id": num, "key": gate.concurrency_key, "sid": gate.state_id}
        with conn.pipeline():
            self._lock(conn, "c", str(gate.concurrency_key))
            taken = conn.execute(self._q["take_free_slot"], {**params, "n": gate.concurrency})
        return taken.fetchone() is not None

    def _admit(self, conn: Conn, gate: Gate, num: int) -> Admission:
        key, rate_key = gate.concurrency_key, gate.rate_key
        # One order for every transaction (concurrency key, then rate key): no lock cycle.
        for kind, name in (("c", key), ("r", rate_key)):
            if name is not None:
                self._lock(conn, kind, name)
        row = conn.execute(self._q["claim_of"], {"id": num}).fetchone()
        if row is None or (row[0], int(row[1])) != ("Processing", gate.state_id):
            return NOT_ADMITTED
        if key is not None:
            # The line is served first: a slot that freed (its job ended a moment ago, its
            # release still to come) goes to the oldest waiter, never to this newer job.
            line = conn.execute(self._q["has_line"], {"key": key}).fetchone()
            if line is not None and line[0]:
                self._promote(conn, key, gate.now)
            live = conn.execute(self._q["live_slots"], {"key": key, "id": num}).fetchone()
            if live is not None and int(live[0]) >= gate.concurrency:
                self._park(conn, gate, key, num)
                return NOT_ADMITTED
        if rate_key is not None:
            reserved = self._reserve_start(conn, gate, rate_key, num)
            if reserved is not None:
                return Admission(admitted=False, run_at=reserved)
        if key is not None:
            conn.execute(self._q["take_slot"], {"id": num, "key": key, "sid": gate.state_id})
        return ADMITTED

    def _lock(self, conn: Conn, kind: str, key: str) -> None:
        lock = {"lock_class": LIMIT_LOCK_CLASS, "key": f"{self._schema}:{kind}:{key}"}
        conn.execute(self._q["limit_lock"], lock)

    def _park(self, conn: Conn, gate: Gate, key: str, num: int) -> None:
        """Move the claimed job to its Awaiting state and to the end of the key's line."""
        assert gate.waiting is not None, "a gate with a concurrency key carries its waiting state"
        change = StateChange(
            gate.job_id,
            gate.waiting,
            expected_states=("Processing",),
            expected_state_id=gate.state_id,
        )
        changed = conn.execute(
            self._q["change_states"], change_states_params([(change, num)])
        ).fetchone()
        if changed is not None:
            conn.execute(self._q["join_line"], {"key": key, "id": num, "n": gate.concurrency})

    def _reserve_start(self, conn: Conn, gate: Gate, key: str, num: int) -> datetime | None:
        """None if the job may start now (the start is recorded), else the time of the start
        it reserved (see stoker.core.protocols.Storage.admit)."""
        now, period = gate.now, timedelta(seconds=gate.rate_period)
        forgotten = now - period - timedelta(seconds=RESERVATION_GRACE)
        prune = {"key": key, "before": now - period, "forgotten": forgotten}
        conn.execute(self._q["prune_starts"], prune)
        found = conn.execute(self._q["reserved"], {"id": num, "key": key}).fetchone()
        if found is not None:
            return self._use_reservation(conn, gate, key, found[0], found[1])
        row = conn.execute(
            self._q["latest_starts"], {"key": key, "nth": gate.rate_count - 1}
        ).fetchone()
        latest, nth = (row[0], row[1]) if row is not None else (None, None)
        at: datetime = max(now, latest or now, nth + period if nth is not None else now)
        if at <= now:
            conn.execute(self._q["record_start"], {"key": key, "at": now, "id": None})
            return None
        conn.execute(self._q["record_start"], {"key": key, "at": at, "id": num})
        return at

    def _use_reservation(
        self, conn: Conn, gate: Gate, key: str, rid: int, at: datetime
    ) -> datetime | None:
        """A job back for its reserved start: too early, it keeps its turn; otherwise it
        starts if the starts really made in the last period allow it (it may come back late,
        after the ones reserved behind it), else its turn moves to the first time they do."""
        now, period = gate.now, timedelta(seconds=gate.rate_period)
        if at > now:
            return at
        made = conn.execute(
            self._q["starts_made"], {"key": key, "since": now - period, "nth": gate.rate_count - 1}
        ).fetchone()
        if made is None or int(made[0]) < gate.rate_count:
            conn.execute(self._q["use_reservation"], {"at": now, "rid": rid})
            return None
        turn: datetime = made[1] + period
        conn.execute(self._q["move_reservation"], {"at": turn, "rid": rid})
        return turn

    def release_slot(self, key: str, job_id: str, state_id: int, now: datetime) -> int:
        num = parse_job_id(job_id)
        if not self._db.run(lambda conn: self._drop_slot(conn, key, num, state_id)):
            return 0  # nobody waits for a slot that is free
        return self._db.run(
            partial(self._locked_promote, key, now), transaction=True, idempotent=False
        )

    def _drop_slot(self, conn: Conn, key: str, num: int | None, state_id: int) -> bool:
        """Give the slot back, in one round trip (pipelined as in _take_free_slot); whether
        the key's first waiter could now be enqueued. Under the key's lock: a job parked
        before it is seen, and one parked after it counted the freed slot as free."""
        with conn.pipeline():
            self._lock(conn, "c", key)
            if num is not None:
                conn.execute(self._q["drop_slot"], {"id": num, "key": key, "sid": state_id})
            conn.execute(self._q["prune_slots"], {"key": key})
            promotable = conn.execute(self._q["promotable"], {"key": key})
        row = promotable.fetchone()
        return bool(row is not None and row[0])

    def promote_waiting(self, now: datetime, limit: int) -> int:
        rows = self._db.run(
            lambda conn: conn.execute(self._q["waiting_keys"], {"limit": max(0, limit)}).fetchall()
        )
        promoted = 0
        for (key,) in rows:  # one short transaction (and lock) per key
            promoted += self._db.run(
                partial(self._locked_promote, str(key), now), transaction=True, idempotent=False
            )
        return promoted

    def _locked_promote(self, key: str, now: datetime, conn: Conn) -> int:
        self._lock(conn, "c", key)
        return self._promote(conn, key, now)

    def _promote(self, conn: Conn, key: str, now: datetime) -> int:
        """Enqueue the key's oldest waiters while slots are free; each takes its slot at once."""
        conn.execute(self._q["prune_slots"], {"key": key})
        row = conn.execute(self._q["count_slots"], {"key": key}).fetchone()
        held = int(row[0]) if row is not None else 0
        promoted = 0
        while (
            waiter := conn.execute(self._q["first_waiter"], {"key": key}).fetchone()
        ) is not None:
            seq, num, state_id, concurrency, queue = waiter
            if held >= concurrency:
                break
            conn.execute(self._q["leave_line"], {"seq": seq})
            if queue is not None and self._enqueue_waiter(conn, key, num, state_id, queue, now):
                held += 1
                promoted += 1
        return promoted

    def _enqueue_waiter(
        self, conn: Conn, key: str, num: int, state_id: int, queue: str, now: datetime
    ) -> bool:
        record = Enqueued(queue=queue, reason=reasons.slot_freed(key)).to_record(now)
        change = StateChange(
            str(num), record, expected_states=("Awaiting",), expected_state_id=state_id
        )
        params: dict[str, Any] = change_states_params([(change, num)])
        if conn.execute(self._q["change_states"], params).fetchone() is None:
            return False  # the waiter moved on (enqueued or deleted by hand)
        conn.execute(self._q["take_current_slot"], {"key": key, "id": num})
        return True
