"""stoker: background jobs with a full history."""
