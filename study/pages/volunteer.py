"""Volunteer page: consent, demographics, one pair per screen, thank-you.

The participant token lives in the URL (`?p=TOKEN`), so a reload or a return visit goes on
at the next unanswered pair: progress is read from the database, never from the session.
Nothing that names a method, a folder or a file reaches the page.
"""

from __future__ import annotations

import time

import streamlit as st

from db.models import LABEL_LEN, TEXT_LEN, Study
from db.votes import choice_for_side, next_assignment, participant_by_token, progress, record_vote
from fme.errors import FMEError
from study.design import enroll, get_study
from study.media import video_bytes
from study.pages import shared
from study.pages.player import show_pair

RATES = {"Normal speed": 1.0, "Slow (1/2)": 0.5, "Very slow (1/4)": 0.25}
GENDERS = ["female", "male", "other", "prefer not to say"]
VISION = ["", "normal", "corrected to normal", "other"]

CONSENT = """
You are invited to take part in a study of facial micro-expression videos. On each screen
you will see two short videos of the same face and choose the one that looks more
**natural and realistic**. There are no right or wrong answers. It takes about 10-15
minutes. Taking part is voluntary; you may stop at any time by closing the page (your link
lets you continue later). We store your answers, the time you take, and the age and gender
you give below, under a random code: no name, e-mail or address. The anonymous data may be
published for research.
"""


def _study(sess) -> Study | None:
    name = st.query_params.get("study")
    if name:
        try:
            return get_study(sess, str(name)[:100])
        except FMEError:
            st.error("This study link is not valid. Please check the link you were given.")
            st.stop()
    names = shared.open_study_names(sess)
    if len(names) == 1:
        return get_study(sess, names[0])
    if not names:
        st.info("No study is open at the moment. Thank you for your interest.")
        st.stop()
    st.write("Choose your study:")
    for n in names:
        if st.button(n, key=f"study-{n}"):
            st.query_params["study"] = n
            st.rerun()
    st.stop()
    return None


def consent_form(sess, study: Study) -> None:
    st.title("Which video looks more natural?")
    st.markdown(CONSENT)
    with st.form("consent"):
        agree = st.checkbox("I am 18 or older and I agree to take part")
        age = st.number_input("Age", min_value=18, max_value=120, value=None, step=1)
        gender = st.radio("Gender", GENDERS, index=None, horizontal=True)
        vision = st.selectbox("Vision (optional)", VISION)
        country = st.text_input("Country (optional)", max_chars=LABEL_LEN)
        comment = st.text_area("Anything we should know? (optional)", max_chars=TEXT_LEN)
        start = st.form_submit_button("Start")
    if not start:
        return
    if not agree:
        st.error("Please tick the consent box to take part.")
        return
    if age is None or gender is None:
        st.error("Please give your age and gender.")
        return
    try:
        participant = enroll(
            sess,
            study,
            age=int(age),
            gender=gender,
            vision=vision or None,
            country=(country or "")[:LABEL_LEN] or None,
            comment=(comment or "")[:TEXT_LEN] or None,
        )
    except FMEError as err:
        st.error(str(err))
        return
    st.query_params["p"] = participant.token
    st.rerun()


def _vote(token: str, pair_id: int, a_side: str, side: str, shown_key: str) -> None:
    """Button callback: record the vote (a repeat is ignored by the database)."""
    shown = st.session_state.get(shown_key, time.time())
    response_ms = max(0, int((time.time() - shown) * 1000))
    rate = RATES.get(st.session_state.get("rate", "Normal speed"), 1.0)
    with shared.session() as sess:
        try:
            record_vote(
                sess,
                token,
                pair_id,
                choice_for_side(a_side, side),
                response_ms,
                playback_rate=rate,
            )
        except FMEError as err:
            st.session_state["vote_error"] = str(err)


def voting(sess, token: str) -> None:
    try:
        participant = participant_by_token(sess, token)
    except FMEError:
        st.error("This link is not valid (unknown participant code).")
        if st.button("Start a new session"):
            del st.query_params["p"]
            st.rerun()
        return
    assignment = next_assignment(sess, participant)
    done = progress(sess, participant)
    if assignment is None:
        st.title("Thank you!")
        st.success(f"You have judged all {done.total} pairs. Your answers are saved.")
        st.balloons()
        return
    if err := st.session_state.pop("vote_error", None):
        st.warning(err)
    st.progress(done.fraction, text=f"Pair {done.done + 1} of {done.total}")
    st.markdown("**Which video looks more natural?** Both show the same face and expression.")
    pair = assignment.pair
    left_id, right_id = (
        (pair.video_a_id, pair.video_b_id)
        if assignment.a_side == "left"
        else (pair.video_b_id, pair.video_a_id)
    )
    try:
        left, right = video_bytes(sess, left_id), video_bytes(sess, right_id)
    except (FMEError, OSError):
        st.error("This pair cannot be shown right now. Please tell the study organiser.")
        return
    ref = pair.video_a
    speed = st.segmented_control(
        "Playback", list(RATES), default="Normal speed", key="rate", label_visibility="collapsed"
    )
    show_pair(left, right, width=ref.width, height=ref.height, rate=RATES.get(speed or "", 1.0))
    shown_key = f"shown-{assignment.id}"
    st.session_state.setdefault(shown_key, time.time())
    vote_buttons(token, pair.id, assignment, shown_key)
    st.caption("Keyboard: ← for the left video, → for the right one.")


def vote_buttons(token: str, pair_id: int, assignment, shown_key: str) -> None:
    """One button under each video (two equal columns with the player's gap), each with its
    arrow-key shortcut. A click and a key press run the same callback, keyed by the
    assignment, so a repeat (double click, held key, stale tab) is the same vote again,
    which `record_vote` ignores."""
    columns = st.columns(2, gap="small", wrap=False)  # side by side on a phone too
    for col, side, key in ((columns[0], "left", "Left"), (columns[1], "right", "Right")):
        col.button(
            f"The {side} video",
            key=f"vote-{assignment.id}-{side}",
            on_click=_vote,
            args=(token, pair_id, assignment.a_side, side, shown_key),
            type="primary",
            width="stretch",
            shortcut=key,
        )


def main() -> None:
    with shared.session() as sess:
        token = st.query_params.get("p")
        if token:
            voting(sess, str(token)[:64])
            return
        study = _study(sess)
        consent_form(sess, study)


main()
