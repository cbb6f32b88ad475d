"""stopping rule: the planned N of a study, fixed at creation, and its group-sequential plan
(interim looks, alpha-spending rule and level)

Existing studies get their target of finished participants as planned N where they have
one (enrolment stopped there anyway); the others get none, and the admin page shows their
p-values once the study is closed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("planned_n", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sequential_looks", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("sequential_spending", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("sequential_alpha", sa.Float(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_studies_planned_n"), "planned_n IS NULL OR planned_n > 1"
        )
        batch.create_check_constraint(
            op.f("ck_studies_sequential_alpha"),
            "sequential_alpha IS NULL OR (sequential_alpha > 0 AND sequential_alpha < 1)",
        )
    op.execute("UPDATE studies SET planned_n = target_finished WHERE target_finished > 1")


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint(op.f("ck_studies_sequential_alpha"), type_="check")
        batch.drop_constraint(op.f("ck_studies_planned_n"), type_="check")
        for name in ("sequential_alpha", "sequential_spending", "sequential_looks", "planned_n"):
            batch.drop_column(name)
