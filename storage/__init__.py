"""Storage: the `Database` protocol over SQLite (default, WAL) and PostgreSQL (asyncpg)."""
