"""Alembic owns the schema: the head constant is current and the migrations build exactly the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from controller.store.db import SCHEMA_HEAD, _alembic_config, current_revision, make_engine, migrate
from controller.store.models import Base


def test_schema_head_constant_is_alembics_head():
    assert ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head() == SCHEMA_HEAD


def test_migrations_build_the_models_schema_on_the_test_backends(database_url, tmp_path):
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        if database_url is None or current_revision(engine) is None:
            migrate(engine)
        assert current_revision(engine) == SCHEMA_HEAD
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()
