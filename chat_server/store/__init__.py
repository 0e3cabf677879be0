"""Where wirechat keeps what it remembers: the SQLite store and the in-memory one."""
