"""The storage layer: the tasks table, engines and sessions, database URL handling."""
