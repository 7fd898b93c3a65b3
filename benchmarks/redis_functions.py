"""EVALSHA against Redis 7 FCALL for stoker's own scripts: does FUNCTION LOAD speed the hot path?

Loads the `fetch_next` and `change_state` scripts both ways and calls each, alternating, on an
empty queue and on a missing job (the script runs its reads and returns), which is the part of
a call that EVALSHA and FCALL could make differ. Prints the median microseconds per call of
each over several rounds and their ratio.

    .venv/bin/python benchmarks/redis_functions.py [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import statistics
import time
from collections.abc import Callable

import redis

from stoker.storage.redis.scripts import script_source

PREFIX = "stoker-bench-functions"


def as_library(name: str) -> tuple[str, str]:
    """The script's text as a Redis function library; (library code, function name)."""
    source = script_source(name)
    function = f"stoker_{name}_{hashlib.sha1(source.encode()).hexdigest()[:12]}"
    code = (
        f"#!lua name={function}\n"
        f"redis.register_function('{function}', function(KEYS, ARGV)\n{source}\nend)\n"
    )
    return code, function


def per_call_us(call: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    client = redis.Redis.from_url(options.url, decode_responses=True)
    version = client.info("server")["redis_version"]
    arguments = {
        "fetch_next": [PREFIX, "server", "worker", "1", "token", "{}", "nothing-here"],
        "change_state": [PREFIX, "missing-job", "Succeeded", "1", "{}"] + [""] * 9 + ["0", "0"],
    }
    key = f"{PREFIX}:job-seq"
    for name, args in arguments.items():
        script = client.register_script(script_source(name))
        code, function = as_library(name)
        client.function_load(code, replace=True)
        script(keys=[key], args=args)  # loads it: every later call is an EVALSHA
        ways: dict[str, Callable[[], object]] = {
            "Script (EVALSHA)": functools.partial(script, keys=[key], args=args),
            "evalsha": functools.partial(client.evalsha, script.sha, 1, key, *args),
            "FCALL": functools.partial(client.fcall, function, 1, key, *args),
        }
        answers = {way: repr(call()) for way, call in ways.items()}
        assert len(set(answers.values())) == 1, f"the ways answer differently: {answers}"
        times: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(options.rounds):
            for way, call in ways.items():
                times[way].append(per_call_us(call, options.calls))
        medians = {way: statistics.median(values) for way, values in times.items()}
        base = medians["evalsha"]
        print(
            f"Redis {version}, {name} (medians of {options.rounds} x {options.calls} calls): "
            + ", ".join(f"{way} {us:.1f} us ({us / base:.2f}x)" for way, us in medians.items())
        )
        client.function_delete(function)


if __name__ == "__main__":
    main()
