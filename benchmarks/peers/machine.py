"""The machine and versions the report names: CPU, cores, RAM, services, packages, git."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

from benchmarks.peers import places
from benchmarks.peers.adapter import ROOT

PACKAGES = (
    "stoker", "huey", "dramatiq", "rq", "celery", "kombu", "saq", "arq", "procrastinate",
    "pgqueuer", "redis", "hiredis", "psycopg", "asyncpg",
)  # fmt: skip


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def ram_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def services() -> str:
    parts = []
    try:
        import psycopg

        with psycopg.connect(f"{places.POSTGRES}/{places.ADMIN_DB}") as conn:
            row = conn.execute("SHOW server_version").fetchone()
            sync = conn.execute("SHOW synchronous_commit").fetchone()
            parts.append(
                f"PostgreSQL {row[0] if row else '?'} (synchronous_commit={sync and sync[0]})"
            )
    except Exception as exc:
        parts.append(f"PostgreSQL unavailable ({type(exc).__name__})")
    try:
        import redis

        client = redis.Redis.from_url(places.redis_url())
        info = client.info("server")
        aof = client.config_get("appendonly").get("appendonly", "?")
        client.close()
        parts.append(f"Redis {info['redis_version']} (appendonly={aof}, db {places.REDIS_DB})")
    except Exception as exc:
        parts.append(f"Redis unavailable ({type(exc).__name__})")
    return ", ".join(parts)


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def git() -> str:
    def out(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = " + uncommitted changes" if out("status", "--porcelain", "--", "src") else ""
    return f"git {out('rev-parse', '--short', 'HEAD') or '?'}{dirty}"


def describe() -> list[str]:
    return [
        f"{os.cpu_count()} cores ({cpu_model()}), {ram_gib():.1f} GiB RAM, {platform.platform()}",
        f"Python {platform.python_version()}; {services()}",
        f"{versions()}; stoker at {git()}",
        f"load average before the run: {os.getloadavg()[0]:.2f}",
    ]
