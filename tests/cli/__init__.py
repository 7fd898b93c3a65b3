"""Tests of the `stoker` command line, in-process and as real subprocesses."""
