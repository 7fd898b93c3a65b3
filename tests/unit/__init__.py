"""Unit and bad-input tests of the core: jobs, arguments, client, state machine, cron, recurring."""
