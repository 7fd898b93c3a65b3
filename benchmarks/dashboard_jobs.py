"""Job functions of the dashboard benchmark: names and arguments as a real application has them.

They are never run; the benchmark only needs importable functions to enqueue."""

from __future__ import annotations


def send_welcome_mail(address: str, subject: str) -> None:
    """A mail job: the argument text holds an e-mail address."""


def resize_image(path: str, width: int) -> None:
    """An image job: a file path and a number."""


def charge_card(customer: str, amount_cents: int) -> None:
    """A payment job: a customer id and an amount."""


def build_report(day: str, region: str) -> None:
    """A reporting job: a date and a region."""


def sync_crm_account(account: int, full: bool) -> None:
    """A rarely used job: a tenth of the others' share, for searching a rare name."""
