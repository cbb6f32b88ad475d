"""Admin page (password from FME_ADMIN_PASSWORD or Streamlit secrets; no default).

Create a study from folders (with its stopping rule: the planned N and, optionally, a
sequential plan), follow its progress (participants, completion, catch-trial failures), read
the result tables and figures once the stopping rule allows (counts always), add experts, export raw votes and ratings,
open, close and reopen the study, and set how it runs on a recruitment platform (target of
finished participants, consent text, demographics, completion and screen-out links, the
minimum viewing time and time limit per pair). The participants table shows each one's
blurs (times the page lost the focus during a pair) and votes over the time limit.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st
from sqlalchemy import func, select

from db.models import (
    CONSENT_LEN,
    DEMOGRAPHICS,
    LABEL_LEN,
    NAME_LEN,
    URL_LEN,
    Expert,
    ExpertRating,
    Study,
)
from fme.core.errors import FMEError
from study.design import (
    add_expert,
    configure_study,
    create_study,
    demographics_fields,
    enrolment,
    get_study,
    set_open,
)
from study.export import ratings_frame, study_progress, votes_frame
from study.pages import shared
from study.specs import parse_method, parse_set

FOLDERS_MAX_CHARS = 4000


def vote_count_table(votes: pd.DataFrame) -> pd.DataFrame:
    """Fallback result table: votes for A and B per comparison set (catch trials left out)."""
    scored = votes.loc[~votes["is_catch"].astype(bool)]
    if scored.empty:
        return pd.DataFrame(columns=["set_name", "method_a", "method_b", "votes_a", "votes_b"])
    grouped = scored.groupby(["set_name", "method_a", "method_b"], sort=False)["choice"]
    table = grouped.agg(
        votes_a=lambda c: int((c == "A").sum()), votes_b=lambda c: int((c == "B").sum())
    )
    return table.reset_index()


def displayable(table: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns as text, so that the browser table (Arrow) accepts them."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(type).nunique() > 1:
            out[col] = out[col].astype(str)
    return out


@st.cache_data(max_entries=8, show_spinner="Computing the report...")
def _report(votes: pd.DataFrame, ratings: pd.DataFrame, max_catch_failures: int | None):
    """The study report under the study's own catch rule (cached on the votes and ratings,
    so reruns do not recompute it)."""
    from study.report import study_report

    return study_report(
        votes,
        ratings if len(ratings) else None,
        max_catch_failures=max_catch_failures,
        catch_rule_source=f"the study's own rule, max_catch_failures = {max_catch_failures}",
    )


def _live(fn):
    """Rerun `fn` alone every 10 s in the browser (Streamlit fragments), where available."""
    fragment = getattr(st, "fragment", None)
    return fragment(run_every=10)(fn) if fragment else fn


@_live
def _progress_tab(name: str) -> None:
    with shared.session() as sess:
        p = study_progress(sess, name)
    c = st.columns(5)
    c[0].metric("Participants", p.participants)
    c[1].metric("Finished", p.finished)
    c[2].metric("Completion", f"{p.completion:.0%}")
    c[3].metric("Catch failures", p.catch_failures)
    c[4].metric("Excluded", p.excluded)
    st.caption(
        f"{p.votes} votes of {p.assigned} assigned; {p.ratings} expert ratings "
        "(updated every 10 s)."
    )
    if len(p.frame):
        st.dataframe(p.frame, hide_index=True)


def results_gate_of(sess, study: Study):
    """The stopping rule of `study` applied now (`study.sequential.results_gate`)."""
    from study.sequential import results_gate

    state = enrolment(sess, study)
    return results_gate(
        state.finished,
        planned_n=study.planned_n,
        looks=study.sequential_looks,
        spending=study.sequential_spending,
        alpha=study.sequential_alpha,
        closed=not study.is_open,
    )


def _interim(votes: pd.DataFrame, gate, max_catch_failures: int) -> None:
    """The decision at a look of the study's sequential plan (no p-values)."""
    from study import stats as stats_
    from study.sequential import interim_decisions

    checked = stats_.check_votes(votes)
    rule = stats_.CatchRule(max_failures=max_catch_failures)
    kept = rule.apply(checked)
    table = interim_decisions(kept.loc[~kept["is_catch"]], gate.plan, gate.look)
    st.subheader(f"Look {gate.look + 1} of the sequential plan")
    st.caption(gate.plan.describe())
    st.dataframe(displayable(table))


def _results_tab(votes: pd.DataFrame, ratings: pd.DataFrame, max_catch_failures: int, gate) -> None:
    if votes.empty and ratings.empty:
        st.info("No votes yet.")
        return
    st.subheader("Votes per comparison set")
    st.dataframe(vote_count_table(votes), hide_index=True)
    try:
        import study.report  # noqa: F401
    except ImportError:
        st.caption("Install the full toolkit for significance tests and figures.")
        return
    if votes.loc[~votes["is_catch"].astype(bool)].empty:
        return
    if not gate.show_tests:
        st.info(f"Tests hidden: {gate.reason}.")
        if gate.look is not None:
            try:
                _interim(votes, gate, max_catch_failures)
            except Exception as err:  # too few votes for the crossed test yet
                st.warning(f"The interim decision cannot be computed yet: {err}")
        return
    st.caption(f"Tests shown: {gate.reason}.")
    try:
        report = _report(votes, ratings, max_catch_failures)
    except Exception as err:  # the report needs enough votes; show why it cannot run yet
        st.warning(f"The full report cannot be computed yet: {err}")
        return
    for table_name, table in report.tables.items():
        st.subheader(table_name.replace("_", " ").capitalize())
        st.dataframe(displayable(table))
    for fig_name, fig in report.figures.items():
        st.plotly_chart(fig, key=f"fig-{fig_name}")


def _export_tab(votes: pd.DataFrame, ratings: pd.DataFrame) -> None:
    st.download_button(
        f"Votes CSV ({len(votes)} rows)",
        votes.to_csv(index=False).encode(),
        file_name="votes.csv",
        mime="text/csv",
    )
    st.download_button(
        f"Ratings CSV ({len(ratings)} rows)",
        ratings.to_csv(index=False).encode(),
        file_name="ratings.csv",
        mime="text/csv",
    )


def _experts_tab(sess, name: str) -> None:
    study = sess.scalar(select(Study).where(Study.name == name))
    rows = sess.execute(
        select(Expert.name, func.count(ExpertRating.id))
        .outerjoin(ExpertRating, ExpertRating.expert_id == Expert.id)
        .where(Expert.study_id == study.id)
        .group_by(Expert.id, Expert.name)
    ).all()
    if rows:
        st.dataframe(pd.DataFrame(rows, columns=["expert", "ratings"]), hide_index=True)
    with st.form("add-expert"):
        expert_name = st.text_input("Expert name or code", max_chars=NAME_LEN)
        added = st.form_submit_button("Add expert")
    if added:
        try:
            expert = add_expert(sess, study, expert_name)
        except FMEError as err:
            st.error(str(err))
            return
        st.success("Send this link to the expert (it is shown once):")
        st.code(f"/expert?expert={expert.token}")


def _hosting_tab(sess, name: str) -> None:
    """Open/close the study, its target, and how it runs on a recruitment platform."""
    study = get_study(sess, name)
    state = enrolment(sess, study)
    status = "open" if study.is_open else "closed"
    target = f" of a target of {state.target}" if state.target else ""
    stopped = {"closed": "closed", "full": "stopped (target reached)"}
    enrol = "open" if state.open else stopped[state.reason]
    st.markdown(
        f"The study is **{status}**: {state.finished} finished{target}, {state.holding} in "
        f"progress; enrolment {enrol}."
    )
    if study.is_open:
        if st.button("Close the study", key="close-study"):
            set_open(sess, study, False)
            st.rerun()
    elif st.button("Reopen the study", key="open-study", type="primary"):
        set_open(sess, study, True)
        st.rerun()
    st.caption(
        "A closed study takes nobody new and tells returning participants that their answers "
        "are saved; reopened, they continue where they stopped. No vote is ever removed."
    )
    st.markdown(
        "Recruitment link (Prolific adds its ids to it): "
        f"`/?study={study.name}&PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}"
        "&SESSION_ID={{%SESSION_ID%}}`; for SONA or MTurk-style links use "
        "`participant_id=...` or `workerId=...`."
    )
    fields = demographics_fields(study)
    with st.form("hosting"):
        c1, c2 = st.columns(2)
        target_value = c1.number_input(
            "Target of finished participants (0: none)",
            min_value=0,
            max_value=100_000,
            value=int(study.target_finished or 0),
        )
        asked = c2.multiselect("Demographics asked", list(DEMOGRAPHICS), default=fields)
        c1, c2 = st.columns(2)
        completion_url = c1.text_input(
            "Completion URL", value=study.completion_url or "", max_chars=URL_LEN
        )
        completion_code = c2.text_input(
            "Completion code", value=study.completion_code or "", max_chars=LABEL_LEN
        )
        screenout_url = c1.text_input(
            "Screen-out URL (catch rule)", value=study.screenout_url or "", max_chars=URL_LEN
        )
        screenout_code = c2.text_input(
            "Screen-out code", value=study.screenout_code or "", max_chars=LABEL_LEN
        )
        c1, c2, c3 = st.columns(3)
        min_view = c1.number_input(
            "Minimum viewing time per pair (s)",
            min_value=0.0,
            max_value=3600.0,
            value=float(study.min_view_s or 0),
        )
        time_limit = c2.number_input(
            "Time limit per pair (s, 0: none)",
            min_value=0.0,
            max_value=3600.0,
            value=float(study.pair_time_limit_s or 0),
        )
        loop = c3.checkbox("Wait until both videos played once", value=bool(study.min_view_loop))
        consent = st.text_area(
            "Consent text (Markdown; empty: the app's own)",
            value=study.consent_text or "",
            max_chars=CONSENT_LEN,
        )
        saved = st.form_submit_button("Save settings")
    if saved:
        try:
            configure_study(
                sess,
                study,
                target_finished=int(target_value) or None,
                demographics=",".join(asked) if asked else "none",
                completion_url=completion_url,
                completion_code=completion_code,
                screenout_url=screenout_url,
                screenout_code=screenout_code,
                consent_text=consent,
                min_view_s=float(min_view),
                min_view_loop=bool(loop),
                pair_time_limit_s=float(time_limit) or None,
            )
        except FMEError as err:
            sess.rollback()
            st.error(str(err))
            return
        st.success("Settings saved.")


def _create_tab(sess) -> None:
    root = os.environ.get("FME_VIDEO_ROOT")
    if root:
        st.caption(f"Folders must lie under {root} (FME_VIDEO_ROOT).")
    with st.form("create-study"):
        name = st.text_input("Study name", max_chars=NAME_LEN)
        methods = st.text_area(
            "Methods, one per line: LABEL=FOLDER",
            placeholder="FOMM=/data/megc/fomm\nFOMM+EWP=/data/megc/fomm-ewp",
            max_chars=FOLDERS_MAX_CHARS,
        )
        sets = st.text_area(
            "Comparison sets, one per line: A:B", placeholder="FOMM:FOMM+EWP", max_chars=2000
        )
        preset = st.checkbox("Add the paper's four sets (FOMM, FOMM+EWP, FOMM+AWP, MRAA, MRAA+AWP)")
        driving = st.text_input("Driving clips folder (optional, for experts)", max_chars=1000)
        c1, c2, c3 = st.columns(3)
        catch = c1.number_input("Catch trials", min_value=0, max_value=50, value=2)
        fails = c2.number_input("Allowed catch failures", min_value=0, max_value=50, value=0)
        seed = c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0)
        st.caption(
            "Stopping rule (fixed now, never changed): p-values stay hidden until the planned "
            "number of finished participants, unless the study has a sequential plan "
            "(looks at fractions of N with an alpha-spending rule)."
        )
        c1, c2, c3 = st.columns(3)
        planned = c1.number_input(
            "Planned N (finished participants)", min_value=2, max_value=100_000, value=31
        )
        looks = c2.text_input("Sequential looks (e.g. 0.5,0.75,1; empty: none)", max_chars=100)
        spending = c3.selectbox("Alpha spending", ["obrien-fleming", "pocock"])
        submitted = st.form_submit_button("Create study")
    if not submitted:
        return
    try:
        method_dirs = dict(parse_method(line) for line in methods.splitlines() if line.strip())
        set_list = [parse_set(line) for line in sets.splitlines() if line.strip()]
        with st.spinner("Checking and registering the videos..."):
            made = create_study(
                sess,
                name,
                method_dirs,
                set_list,
                catch=int(catch),
                seed=int(seed),
                preset="paper" if preset else None,
                max_catch_failures=int(fails),
                driving_dir=driving.strip() or None,
                allowed_root=root,
                planned_n=int(planned),
                looks=looks.strip() or None,
                spending=spending if looks.strip() else None,
            )
    except FMEError as err:
        st.error(str(err))
        return
    st.success("Study created.")
    st.code(made.summary())


def main() -> None:
    st.title("Admin")
    if not shared.require_admin():
        return
    with shared.session() as sess:
        names = list(sess.scalars(select(Study.name).order_by(Study.id)))
        name = st.selectbox("Study", names, index=len(names) - 1) if names else None
        tabs = st.tabs(["Progress", "Results", "Experts", "Export", "Hosting", "Create study"])
        with tabs[5]:
            _create_tab(sess)
        if name is None:
            for tab in tabs[:5]:
                tab.info("No study yet: create one in the last tab.")
            return
        with tabs[4]:
            _hosting_tab(sess, name)
        with tabs[0]:
            _progress_tab(name)
        votes, ratings = votes_frame(sess, name), ratings_frame(sess, name)  # once per rerun
        chosen = get_study(sess, name)
        with tabs[1]:
            _results_tab(votes, ratings, chosen.max_catch_failures, results_gate_of(sess, chosen))
        with tabs[2]:
            _experts_tab(sess, name)
        with tabs[3]:
            _export_tab(votes, ratings)
    if st.button("Sign out"):
        st.session_state.pop("admin_ok", None)
        st.rerun()


main()
