"""Storage URLs made safe to show: passwords replaced by *** before a URL reaches a log."""

from __future__ import annotations

import re


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and error messages: in the
    user-info part (`user:pw@`) and in query options (`?password=pw`, as libpq accepts)."""
    url = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"([?&](?:password|pass|pwd|sslpassword)=)[^&#]*", r"\1***", url, flags=re.I)
