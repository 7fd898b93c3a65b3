"""The systems compared: id -> (adapter module, storage), in the order of the report."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmarks.peers.adapter import Adapter


@dataclass(frozen=True)
class System:
    id: str
    module: str  # benchmarks.peers.<module>, which defines `Peer`
    storage: str
    package: str  # distribution whose version the report shows
    scale: float = 1.0  # share of the end-to-end job counts (RQ's forking Worker: a fork per job)

    @property
    def is_stoker(self) -> bool:
        return self.package == "stoker"

    def adapter(self) -> Adapter:
        module = importlib.import_module(f"benchmarks.peers.{self.module}")
        peer: Adapter = module.Peer(self)
        return peer


SYSTEMS = {
    system.id: system
    for system in (
        System("stoker-sqlite", "stoker_peer", "sqlite", "stoker"),
        System("huey-sqlite", "huey_peer", "sqlite", "huey"),
        System("stoker-postgres", "stoker_peer", "postgres", "stoker"),
        System("procrastinate", "procrastinate_peer", "postgres", "procrastinate"),
        System("pgqueuer", "pgqueuer_peer", "postgres", "pgqueuer"),
        System("saq-postgres", "saq_peer", "postgres", "saq"),
        System("stoker-redis", "stoker_peer", "redis", "stoker"),
        System("huey-redis", "huey_peer", "redis", "huey"),
        System("dramatiq", "dramatiq_peer", "redis", "dramatiq"),
        System("rq", "rq_peer", "redis", "rq", scale=0.1),
        System("rq-simple", "rq_peer", "redis", "rq"),
        System("celery", "celery_peer", "redis", "celery"),
        System("saq-redis", "saq_peer", "redis", "saq"),
        System("arq", "arq_peer", "redis", "arq"),
    )
}
STORAGES = ("sqlite", "postgres", "redis")
