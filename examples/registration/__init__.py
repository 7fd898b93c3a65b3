"""The registration sample application: delayed activation e-mails and recurring backups.

Run it from the repository root with `python -m examples.registration` (see README.md).
"""
