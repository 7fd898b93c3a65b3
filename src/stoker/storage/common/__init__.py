"""Helpers every storage driver may share: batching, due-order paging, URL redaction."""
