"""hosted studies: lifecycle (target, closed_at), recruitment-platform ids, per-study consent,
demographics, completion and screen-out links

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STUDY_COLUMNS = [
    sa.Column("target_finished", sa.Integer(), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("consent_text", sa.Text(), nullable=True),
    sa.Column("demographics", sa.String(length=100), nullable=True),
    sa.Column("completion_url", sa.String(length=1000), nullable=True),
    sa.Column("completion_code", sa.String(length=64), nullable=True),
    sa.Column("screenout_url", sa.String(length=1000), nullable=True),
    sa.Column("screenout_code", sa.String(length=64), nullable=True),
]
PARTICIPANT_COLUMNS = [
    sa.Column("platform", sa.String(length=16), nullable=True),
    sa.Column("platform_pid", sa.String(length=64), nullable=True),
    sa.Column("platform_study_id", sa.String(length=64), nullable=True),
    sa.Column("platform_session_id", sa.String(length=64), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        for column in STUDY_COLUMNS:
            batch.add_column(column)
        batch.create_check_constraint(
            op.f("ck_studies_target"), "target_finished IS NULL OR target_finished > 0"
        )
    with op.batch_alter_table("participants") as batch:
        for column in PARTICIPANT_COLUMNS:
            batch.add_column(column)
        batch.create_unique_constraint(
            "uq_participants_study_platform_pid", ["study_id", "platform_pid"]
        )


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_constraint("uq_participants_study_platform_pid", type_="unique")
        for column in reversed(PARTICIPANT_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint(op.f("ck_studies_target"), type_="check")
        for column in reversed(STUDY_COLUMNS):
            batch.drop_column(column.name)
