"""SQLAlchemy adapter for the metadata store (SQLite by default, PostgreSQL by DSN)."""
