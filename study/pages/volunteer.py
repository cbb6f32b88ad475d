"""Volunteer page: consent, demographics, one pair per screen, thank-you (and the way out).

The participant token lives in the URL (`?p=TOKEN`), so a reload or a return visit goes on
at the next unanswered pair: progress is read from the database, never from the session.
A recruitment-platform link (`?study=NAME&PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...`,
see `study.recruitment`) stores the platform's ids with the participant, and the same
platform id coming back continues its own session. The consent text and the demographics
asked are the study's. A closed study (or one that reached its target) takes nobody new
and tells a returning participant that their answers are saved. At the end the study's
completion code is shown and the browser is sent to its completion URL (or to the
screen-out URL when the catch rule excludes the participant). Nothing that names a method,
a folder or a file, and no platform id, reaches the page.
"""

from __future__ import annotations

import json
import time

import streamlit as st

from db.models import LABEL_LEN, TEXT_LEN, Participant, Study
from db.votes import (
    catch_failures,
    choice_for_side,
    next_assignment,
    participant_by_token,
    progress,
    record_vote,
)
from fme.core.errors import FMEError
from study.design import (
    demographics_fields,
    enroll,
    enrolment,
    get_study,
    participant_for_platform,
)
from study.media import video_bytes
from study.pages import shared
from study.pages.attention import Gate, attention_tracker, gate_for, read_attention
from study.pages.player import show_pair
from study.recruitment import PlatformIds, exit_for, platform_ids

RATES = {"Normal speed": 1.0, "Slow (1/2)": 0.5, "Very slow (1/4)": 0.25}
GENDERS = ["female", "male", "other", "prefer not to say"]
VISION = ["", "normal", "corrected to normal", "other"]
REDIRECT_S = 3

CONSENT = """
You are invited to take part in a study of facial micro-expression videos. On each screen
you will see two short videos of the same face and choose the one that looks more
**natural and realistic**. There are no right or wrong answers. It takes about 10-15
minutes. Taking part is voluntary; you may stop at any time by closing the page (your link
lets you continue later). We store your answers, the time you take, and the age and gender
you give below, under a random code: no name, e-mail or address. The anonymous data may be
published for research.
"""
CLOSED_NEW = "This study is closed at the moment and takes no new participants. Thank you."
FULL = (
    "This study has all the participants it needs and takes nobody new. Thank you for your "
    "interest (if you came from a recruitment platform, please return your place there)."
)
CLOSED_RETURNING = (
    "This study is paused at the moment. Your {done} answer(s) are saved; open the same "
    "link again later to continue where you stopped."
)


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


def consent_form(sess, study: Study, platform: PlatformIds | None) -> None:
    st.title("Which video looks more natural?")
    st.markdown(study.consent_text or CONSENT)
    fields = demographics_fields(study)
    answers: dict[str, object] = {}
    with st.form("consent"):
        agree = st.checkbox("I am 18 or older and I agree to take part")
        if "age" in fields:
            answers["age"] = st.number_input("Age", min_value=18, max_value=120, value=None)
        if "gender" in fields:
            answers["gender"] = st.radio("Gender", GENDERS, index=None, horizontal=True)
        if "vision" in fields:
            answers["vision"] = st.selectbox("Vision (optional)", VISION) or None
        if "country" in fields:
            country = st.text_input("Country (optional)", max_chars=LABEL_LEN)
            answers["country"] = (country or "")[:LABEL_LEN] or None
        if "comment" in fields:
            comment = st.text_area("Anything we should know? (optional)", max_chars=TEXT_LEN)
            answers["comment"] = (comment or "")[:TEXT_LEN] or None
        start = st.form_submit_button("Start")
    if not start:
        return
    if not agree:
        st.error("Please tick the consent box to take part.")
        return
    missing = [f for f in ("age", "gender") if f in answers and answers[f] is None]
    if missing:
        st.error(f"Please give your {' and '.join(missing)}.")
        return
    if answers.get("age") is not None:
        answers["age"] = int(answers["age"])
    try:
        participant = enroll(sess, study, platform=platform, **answers)
    except FMEError as err:
        st.error(str(err))
        return
    st.query_params["p"] = participant.token
    st.rerun()


def _vote(token: str, pair_id: int, a_side: str, side: str, assignment_id: int) -> None:
    """Vote button callback: record the vote (a repeat is ignored by the database), unless it
    comes before the pair's gate opened; the attention events travel with it."""
    keys = _keys(assignment_id)
    shown = st.session_state.get(keys["shown"], time.time())
    response_ms = max(0, int((time.time() - shown) * 1000))
    gate: Gate = st.session_state.get(keys["gate"]) or Gate(0, False, 0)
    if response_ms < gate.wait_ms:
        st.session_state["vote_error"] = (
            "Please watch both videos before choosing (your choice was not recorded)."
        )
        return
    seen = read_attention(st.session_state.get(keys["attention"]))
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
                blur_count=seen.blur_count,
                focus_events=seen.focus_events,
                over_time=bool(gate.limit_ms) and response_ms > gate.limit_ms,
            )
        except FMEError as err:
            st.session_state["vote_error"] = str(err)


def _keys(assignment_id: int) -> dict[str, str]:
    """Session-state keys of one screen: when it was shown, its gate, its attention state."""
    return {
        "shown": f"shown-{assignment_id}",
        "gate": f"gate-{assignment_id}",
        "attention": f"attention-{assignment_id}",
    }


def voting(sess, token: str) -> None:
    try:
        participant = participant_by_token(sess, token)
    except FMEError:
        st.error("This link is not valid (unknown participant code).")
        if st.button("Start a new session"):
            del st.query_params["p"]
            st.rerun()
        return
    study = sess.get(Study, participant.study_id)
    done = progress(sess, participant)
    excluded = catch_failures(sess, participant) > study.max_catch_failures
    assignment = next_assignment(sess, participant)
    if assignment is None or (excluded and exit_for(study, True).kind == "screenout"):
        # one who is done gets their code and way out also after the study closed
        finish_screen(study, participant, excluded, done)
        return
    if not study.is_open:
        st.title("Study paused")
        st.info(CLOSED_RETURNING.format(done=done.done))
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
    rate = RATES.get(speed or "", 1.0)
    show_pair(left, right, width=ref.width, height=ref.height, rate=rate)
    keys = _keys(assignment.id)
    st.session_state.setdefault(keys["shown"], time.time())
    durations = tuple(v.n_frames / max(v.fps, 1e-6) for v in (pair.video_a, pair.video_b))
    gate = gate_for(study, durations, rate)
    st.session_state[keys["gate"]] = gate
    vote_buttons(token, pair.id, assignment, gate)
    st.caption("Keyboard: ← for the left video, → for the right one.")


def vote_buttons(token: str, pair_id: int, assignment, gate: Gate) -> None:
    """One button under each video (two equal columns with the player's gap), each with its
    arrow-key shortcut, in the pair's form with the attention tracker (whose events the
    form sends with the vote). A click and a key press run the same callback, keyed by the
    assignment, so a repeat (double click, held key, stale tab) is the same vote again,
    which `record_vote` ignores."""
    with st.form(f"pair-{assignment.id}", border=False, enter_to_submit=False):
        columns = st.columns(2, gap="small", wrap=False)  # side by side on a phone too
        for col, side, key in ((columns[0], "left", "Left"), (columns[1], "right", "Right")):
            with col:
                st.form_submit_button(
                    f"The {side} video",
                    key=f"vote-{assignment.id}-{side}",
                    on_click=_vote,
                    args=(token, pair_id, assignment.a_side, side, assignment.id),
                    type="primary",
                    width="stretch",
                    shortcut=key,
                )
        attention_tracker(_keys(assignment.id)["attention"], gate)


def finish_screen(study: Study, participant: Participant, excluded: bool, done) -> None:
    """The last screen: thanks, the study's code, and the way back to the platform."""
    out = exit_for(study, excluded)
    st.title("Thank you!")
    if out.kind == "screenout":
        st.info(
            "Thank you for your time. Your answers did not pass the study's attention "
            "checks, so the study ends here."
        )
    else:
        st.success(f"You have judged all {done.total} pairs. Your answers are saved.")
    if out.code:
        st.markdown("Your completion code:" if out.kind == "complete" else "Your code:")
        st.code(out.code, language=None)
    if out.url:
        st.link_button("Back to the recruitment platform", out.url, type="primary")
        st.caption(f"You will be taken there in {REDIRECT_S} seconds.")
        _redirect(out.url, REDIRECT_S)
    elif out.kind == "complete":
        st.balloons()


def _redirect(url: str, after_s: float) -> None:
    """Send the browser (the whole page, not the frame) to `url` after `after_s` seconds.
    The frame is same-origin with the page, so it follows a link it adds to the page."""
    target = json.dumps(url).replace("<", "\\u003c")
    page = (
        "<!doctype html><html><body><script>setTimeout(function () {"
        "var doc = window.parent.document; var a = doc.createElement('a');"
        f"a.href = {target}; a.target = '_top'; a.rel = 'noreferrer';"
        "doc.body.appendChild(a); a.click();"
        f"}}, {int(after_s * 1000)});</script></body></html>"
    )
    st.iframe(page, height=1)


def entry(sess) -> None:
    """No token yet: a platform id that has a session goes back to it; otherwise the study
    must be open (and below its target) to show the consent form."""
    study = _study(sess)
    platform = platform_ids(st.query_params.to_dict())
    if platform is not None:
        existing = participant_for_platform(sess, study, platform.pid)
        if existing is not None:
            st.query_params["p"] = existing.token
            st.rerun()
    state = enrolment(sess, study)
    if not state.open:
        st.title("Which video looks more natural?")
        st.info(CLOSED_NEW if state.reason == "closed" else FULL)
        return
    consent_form(sess, study, platform)


def main() -> None:
    with shared.session() as sess:
        token = st.query_params.get("p")
        if token:
            voting(sess, str(token)[:64])
            return
        entry(sess)


main()
