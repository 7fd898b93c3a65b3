"""Dead-server detection that no clock skew between hosts can fool, and recovery of their jobs."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from stoker.core.log_fields import log_fields

if TYPE_CHECKING:
    from stoker.core.records import ServerRecord
    from stoker.server.context import ServerContext

log = logging.getLogger("stoker.server")
BATCH = 1000


@dataclass(frozen=True)
class Sighting:
    """A peer's heartbeat stamp and when (by OUR clock) we first saw that stamp."""

    heartbeat_at: datetime
    seen_at: datetime


class Watchdog:
    """Declares a peer dead when its heartbeat stamp has not CHANGED for `server_timeout`.

    Heartbeat stamps come from each server's own clock. Comparing a peer's stamp with our clock
    (as Hangfire before 1.8 did) lets a server whose clock runs ahead declare live peers dead
    and run their jobs twice. We only compare a peer's stamp with its own earlier stamps and
    measure the silence with our own clock, so skew cancels out. The price: a peer first seen
    silent is given a whole `server_timeout` before it is declared dead. Except on our own
    host, where one clock serves all: a peer whose process no longer exists and whose stamp is
    stale by a few heartbeats is dead at once, so a server restarted after a crash (`kill -9`,
    OOM killer, reboot) recovers its predecessor's jobs without waiting.
    """

    def __init__(self) -> None:
        self._sightings: dict[str, Sighting] = {}

    def __call__(self, server: ServerContext) -> None:
        dead = self._remove_dead(server)
        for server_id in dead:
            log.warning(
                "server %s stopped responding; its jobs go back to their queues",
                server_id,
                extra=log_fields(server.id),
            )
        self._requeue_orphans(server)

    def _remove_dead(self, server: ServerContext) -> list[str]:
        storage, now = server.storage, server.clock.now()
        timeout = timedelta(seconds=server.options.server_timeout)
        sightings: dict[str, Sighting] = {}
        silent: list[datetime] = []
        for peer in storage.list_servers():
            if peer.id == server.id:
                continue
            previous = self._sightings.get(peer.id)
            if previous is None or previous.heartbeat_at != peer.heartbeat_at:
                previous = Sighting(peer.heartbeat_at, now)  # alive, or first seen: count anew
            sightings[peer.id] = previous
            if now - previous.seen_at >= timeout or _gone_from_this_host(peer, server, now):
                silent.append(peer.heartbeat_at)
        self._sightings = sightings
        if not silent:
            return []
        # Compare-and-set in the storage: only servers whose stamp is still this old go, so a
        # peer that heartbeat a moment ago is never removed; older stamps are silent too.
        return storage.remove_dead_servers(max(silent) + timedelta(microseconds=1))

    def _requeue_orphans(self, server: ServerContext) -> None:
        while True:
            requeued = server.storage.requeue_orphaned_jobs(server.clock.now(), BATCH)
            if requeued:
                log.warning(
                    "requeued %d job(s) of dead servers: %s",
                    len(requeued),
                    ", ".join(requeued[:20]),
                    extra=log_fields(server.id),
                )
            if len(requeued) < BATCH:
                return


def _gone_from_this_host(peer: ServerRecord, server: ServerContext, now: datetime) -> bool:
    """Same host name, no such process, and silent for two heartbeats by the shared clock.

    The staleness check guards against two hosts (or containers with their own process
    namespaces) that happen to share a host name: they would also need clocks apart.
    """
    if peer.hostname != socket.gethostname():
        return False
    stale = timedelta(seconds=2 * server.options.heartbeat_interval)
    if now - peer.heartbeat_at < stale:
        return False
    try:
        os.kill(peer.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: the process exists under another user
        return False
    return False
