"""Storage backends for the sandbox registry (in memory, or SQLite under --data-dir)."""
