"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 00:22:41.932855
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("max_catch_failures", sa.Integer(), nullable=False),
        sa.Column("catch_per_participant", sa.Integer(), nullable=False),
        sa.Column("media_dir", sa.String(length=1000), nullable=True),
        sa.Column("driving_dir", sa.String(length=1000), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "catch_per_participant >= 0", name=op.f("ck_studies_catch_per_participant")
        ),
        sa.CheckConstraint("max_catch_failures >= 0", name=op.f("ck_studies_max_catch_failures")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
        sa.UniqueConstraint("name", name=op.f("uq_studies_name")),
    )
    op.create_table(
        "experts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_experts_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts")),
        sa.UniqueConstraint("study_id", "name", name="uq_experts_study_name"),
        sa.UniqueConstraint("token", name=op.f("uq_experts_token")),
    )
    op.create_table(
        "methods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("folder", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_methods_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_methods")),
        sa.UniqueConstraint("study_id", "label", name="uq_methods_study_label"),
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("gender", sa.String(length=32), nullable=True),
        sa.Column("vision", sa.String(length=32), nullable=True),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "age IS NULL OR (age >= 18 AND age <= 120)", name=op.f("ck_participants_age")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_participants_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("token", name=op.f("uq_participants_token")),
    )
    op.create_table(
        "comparison_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=208), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("method_a_id", sa.Integer(), nullable=False),
        sa.Column("method_b_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "method_a_id <> method_b_id", name=op.f("ck_comparison_sets_distinct_methods")
        ),
        sa.ForeignKeyConstraint(
            ["method_a_id"],
            ["methods.id"],
            name=op.f("fk_comparison_sets_method_a_id_methods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["method_b_id"],
            ["methods.id"],
            name=op.f("fk_comparison_sets_method_b_id_methods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_comparison_sets_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparison_sets")),
        sa.UniqueConstraint("study_id", "name", name="uq_comparison_sets_study_name"),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("method_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("n_frames", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sample", sa.String(length=100), nullable=False),
        sa.Column("driving", sa.String(length=100), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.CheckConstraint("kind IN ('method', 'driving', 'catch')", name=op.f("ck_videos_kind")),
        sa.CheckConstraint("n_frames > 0", name=op.f("ck_videos_n_frames")),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["methods.id"],
            name=op.f("fk_videos_method_id_methods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_videos_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
        sa.UniqueConstraint("study_id", "kind", "method_id", "sample", name="uq_videos_sample"),
    )
    op.create_table(
        "expert_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("upper", sa.Integer(), nullable=False),
        sa.Column("lower", sa.Integer(), nullable=False),
        sa.Column("noise", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lower >= 0 AND lower <= 3", name=op.f("ck_expert_ratings_lower")),
        sa.CheckConstraint("noise >= 0 AND noise <= 3", name=op.f("ck_expert_ratings_noise")),
        sa.CheckConstraint("upper >= 0 AND upper <= 3", name=op.f("ck_expert_ratings_upper")),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["experts.id"],
            name=op.f("fk_expert_ratings_expert_id_experts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_expert_ratings_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expert_ratings")),
        sa.UniqueConstraint("expert_id", "video_id", name="uq_expert_ratings_expert_video"),
    )
    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=True),
        sa.Column("sample", sa.String(length=100), nullable=False),
        sa.Column("video_a_id", sa.Integer(), nullable=False),
        sa.Column("video_b_id", sa.Integer(), nullable=False),
        sa.Column("is_catch", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "(is_catch AND set_id IS NULL) OR (NOT is_catch AND set_id IS NOT NULL)",
            name=op.f("ck_pairs_catch_or_set"),
        ),
        sa.CheckConstraint("video_a_id <> video_b_id", name=op.f("ck_pairs_distinct_videos")),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["comparison_sets.id"],
            name=op.f("fk_pairs_set_id_comparison_sets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_pairs_study_id_studies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["video_a_id"],
            ["videos.id"],
            name=op.f("fk_pairs_video_a_id_videos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_b_id"],
            ["videos.id"],
            name=op.f("fk_pairs_video_b_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairs")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("a_side", sa.String(length=5), nullable=False),
        sa.CheckConstraint("a_side IN ('left', 'right')", name=op.f("ck_assignments_a_side")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_assignments_position")),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_assignments_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_assignments_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("participant_id", "pair_id", name="uq_assignments_participant_pair"),
        sa.UniqueConstraint("participant_id", "position", name="uq_assignments_participant_pos"),
    )
    op.create_table(
        "catch_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("corrupted_video_id", sa.Integer(), nullable=False),
        sa.Column("correct", sa.String(length=1), nullable=False),
        sa.Column("corruption", sa.String(length=64), nullable=False),
        sa.CheckConstraint("correct IN ('A', 'B')", name=op.f("ck_catch_trials_correct")),
        sa.ForeignKeyConstraint(
            ["corrupted_video_id"],
            ["videos.id"],
            name=op.f("fk_catch_trials_corrupted_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["pairs.id"],
            name=op.f("fk_catch_trials_pair_id_pairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catch_trials")),
        sa.UniqueConstraint("pair_id", name=op.f("uq_catch_trials_pair_id")),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=1), nullable=False),
        sa.Column("response_ms", sa.Integer(), nullable=False),
        sa.Column("playback_rate", sa.Float(), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("choice IN ('A', 'B')", name=op.f("ck_votes_choice")),
        sa.CheckConstraint("playback_rate > 0", name=op.f("ck_votes_playback_rate")),
        sa.CheckConstraint("response_ms >= 0", name=op.f("ck_votes_response_ms")),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_votes_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_votes_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("participant_id", "pair_id", name="uq_votes_participant_pair"),
    )


def downgrade() -> None:
    op.drop_table("votes")
    op.drop_table("catch_trials")
    op.drop_table("assignments")
    op.drop_table("pairs")
    op.drop_table("expert_ratings")
    op.drop_table("videos")
    op.drop_table("comparison_sets")
    op.drop_table("participants")
    op.drop_table("methods")
    op.drop_table("experts")
    op.drop_table("studies")
