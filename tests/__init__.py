"""stoker test suite."""
