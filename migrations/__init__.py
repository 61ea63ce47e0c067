"""Alembic revisions: the only source of the schema outside throwaway test databases."""
