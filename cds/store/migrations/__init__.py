"""Alembic migrations for the feedback store, shipped inside the package and run at start-up."""
