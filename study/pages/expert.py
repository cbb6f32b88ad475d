"""Expert page: each generated video (blinded) beside its driving clip, scored on the MEGC
rubric: upper face, lower face and noise, each 0-3 (at most 9 per video).

Experts open the link the admin made for them (`?expert=TOKEN`); videos come in an order
seeded per expert, and the next unrated one is read from the database.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from sqlalchemy import select

from db.models import Study, Video
from db.ratings import expert_by_token, rated_video_ids, record_rating
from fme.core.errors import FMEError
from study.media import video_bytes
from study.pages import shared
from study.pages.player import show_pair

RUBRIC = """
Score how well the generated video (right) reproduces the micro-expression of the driving
clip (left):
- **Upper face** (brows, eyes): 0 = not at all, 3 = faithfully.
- **Lower face** (nose, mouth, chin): 0 = not at all, 3 = faithfully.
- **Noise** (artefacts, blur, identity drift): 0 = heavy, 3 = clean.
"""
SCORES = [0, 1, 2, 3]


def video_order(session, study: Study, expert_id: int) -> list[int]:
    """The study's generated videos in this expert's seeded order."""
    ids = sorted(
        session.scalars(select(Video.id).where(Video.study_id == study.id, Video.kind == "method"))
    )
    order = np.random.default_rng([study.seed, 3, expert_id]).permutation(len(ids))
    return [ids[i] for i in order]


def _driving_clip(session, video: Video) -> Video | None:
    return session.scalar(
        select(Video).where(
            Video.study_id == video.study_id,
            Video.kind == "driving",
            Video.sample == video.driving,
        )
    )


def main() -> None:
    token = st.query_params.get("expert")
    if not token:
        st.title("Expert scoring")
        st.info("Open the personal link the study admin gave you.")
        return
    with shared.session() as sess:
        try:
            expert = expert_by_token(sess, str(token)[:64])
        except FMEError:
            st.error("This expert link is not valid. Ask the study admin for a new one.")
            return
        study = sess.get(Study, expert.study_id)
        order = video_order(sess, study, expert.id)
        rated = rated_video_ids(sess, expert)
        todo = [v for v in order if v not in rated]
        st.title("Expert scoring")
        st.progress(
            len(rated) / max(1, len(order)), text=f"{len(rated)} of {len(order)} videos scored"
        )
        if not todo:
            st.success("All videos are scored. Thank you!")
            return
        video = sess.get(Video, todo[0])
        st.markdown(RUBRIC)
        try:
            generated = video_bytes(sess, video.id)
            driving = _driving_clip(sess, video)
            if driving is not None:
                show_pair(
                    video_bytes(sess, driving.id),
                    generated,
                    width=video.width,
                    height=video.height,
                    rate=0.5,
                    captions=("Driving clip", "Generated video"),
                )
            else:
                st.caption("No driving clip was registered for this video.")
                st.video(generated, loop=True, autoplay=True, muted=True)
        except (FMEError, OSError):
            st.error("This video cannot be shown right now. Please tell the study admin.")
            return
        with st.form(f"rate-{video.id}"):
            upper = st.radio("Upper face", SCORES, index=None, horizontal=True)
            lower = st.radio("Lower face", SCORES, index=None, horizontal=True)
            noise = st.radio("Noise (3 = clean)", SCORES, index=None, horizontal=True)
            submitted = st.form_submit_button("Save and next")
        if submitted:
            if None in (upper, lower, noise):
                st.error("Please give all three scores.")
                return
            try:
                record_rating(sess, expert.token, video.id, upper, lower, noise)
            except FMEError as err:
                st.error(str(err))
                return
            st.rerun()


main()
