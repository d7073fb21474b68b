"""The SQL store: SQLAlchemy 2 models, engine/session handling, and queries."""
