"""timing and attention: minimum viewing time and time limit per pair (studies), blur/focus
events and the over-time flag per vote

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("min_view_s", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("min_view_loop", sa.Boolean(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("pair_time_limit_s", sa.Float(), nullable=True))
        batch.create_check_constraint(op.f("ck_studies_min_view_s"), "min_view_s >= 0")
        batch.create_check_constraint(
            op.f("ck_studies_time_limit"), "pair_time_limit_s IS NULL OR pair_time_limit_s > 0"
        )
    with op.batch_alter_table("votes") as batch:
        batch.add_column(sa.Column("blur_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("focus_events", sa.Text(), nullable=True))
        batch.add_column(sa.Column("over_time", sa.Boolean(), nullable=False, server_default="0"))
        batch.create_check_constraint(
            op.f("ck_votes_blur_count"), "blur_count IS NULL OR blur_count >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.drop_constraint(op.f("ck_votes_blur_count"), type_="check")
        for name in ("over_time", "focus_events", "blur_count"):
            batch.drop_column(name)
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint(op.f("ck_studies_time_limit"), type_="check")
        batch.drop_constraint(op.f("ck_studies_min_view_s"), type_="check")
        for name in ("pair_time_limit_s", "min_view_loop", "min_view_s"):
            batch.drop_column(name)
