"""Hosting a study: open/close/reopen, a target of finished participants, recruitment-platform
ids on entry and in the export, per-study consent and demographics, completion and screen-out.
Design functions, the CLI and the volunteer page (AppTest) against a real SQLite database."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest
from study_helpers import make_db, make_method_dirs

from db.models import Assignment, CatchTrial, Pair, Participant, Vote
from db.votes import StudyClosed, next_assignment, record_vote
from fme.core.errors import ConfigError, DataError
from study.design import (
    configure_study,
    create_study,
    enroll,
    enrolment,
    get_study,
    set_open,
)
from study.export import export_csv, votes_frame
from study.recruitment import PlatformIds, platform_ids

APP = str(Path(__file__).resolve().parents[2] / "app.py")
LABELS = ["FOMM", "FOMM+EWP"]
SAMPLES = ["007_7_1-normalized_westernMale", "sub19_EP01_01f-normalized_asianFemale"]
TIMEOUT = 60
DONE_URL = "https://app.prolific.com/submissions/complete?cc=C0MPL3T3"


@pytest.fixture()
def study(tmp_path, monkeypatch):
    url, engine, factory = make_db(tmp_path / "host.db")
    monkeypatch.setenv("FME_DATABASE_URL", url)
    dirs = make_method_dirs(tmp_path / "videos", LABELS, samples=SAMPLES)
    with factory() as s:
        create_study(s, "pilot", dirs, sets=[tuple(LABELS)], catch=1, media_dir=tmp_path / "c")
    yield factory
    engine.dispose()


def _vote_all(s, p, catch_ok: bool = True) -> None:
    while (a := next_assignment(s, p)) is not None:
        ct = s.scalar(select(CatchTrial).where(CatchTrial.pair_id == a.pair_id))
        choice = "A" if ct is None else (ct.correct if catch_ok else "AB".replace(ct.correct, ""))
        record_vote(s, p.token, a.pair_id, choice, 10)


def test_close_keeps_votes_refuses_new_and_reopen_continues(study):
    with study() as s:
        p = enroll(s, "pilot")
        first = next_assignment(s, p)
        record_vote(s, p.token, first.pair_id, "A", 5)
        set_open(s, "pilot", False)
        assert enrolment(s, get_study(s, "pilot")).reason == "closed"
        with pytest.raises(DataError, match="closed"):
            enroll(s, "pilot")
        second = next_assignment(s, p)
        with pytest.raises(StudyClosed):
            record_vote(s, p.token, second.pair_id, "B", 5)
        assert s.scalar(select(func.count(Vote.id))) == 1  # the earlier vote is kept
        set_open(s, "pilot", True)
        assert next_assignment(s, p).pair_id == second.pair_id  # continues where it stopped
        assert record_vote(s, p.token, second.pair_id, "B", 5).recorded


def test_target_stops_enrolment_with_sides_balanced(study):
    with study() as s:
        configure_study(s, "pilot", target_finished=4)
        people = [enroll(s, "pilot") for _ in range(4)]
        with pytest.raises(DataError, match="target of 4"):
            enroll(s, "pilot")  # four places held by unfinished participants
        for p in people:
            _vote_all(s, p)
        with pytest.raises(DataError, match="target of 4"):
            enroll(s, "pilot")
        assert s.scalar(select(func.count(Participant.id))) == 4
        rows = s.execute(select(Assignment.pair_id, Assignment.a_side)).all()
        sides = Counter(rows)
        pairs = {pair for pair, _ in rows}
        # every participant saw every pair, and each pair had A on each side twice
        assert len(rows) == 4 * len(pairs)
        assert all(sides[(pair, side)] == 2 for pair in pairs for side in ("left", "right"))
        with pytest.raises(ConfigError):
            configure_study(s, "pilot", target_finished=0)


def test_platform_ids_resume_one_session_and_are_exported(study, tmp_path):
    query = {"PROLIFIC_PID": "5f3a9c0e1b2d4e6f7a8b9c0d", "STUDY_ID": "st1", "SESSION_ID": "se1"}
    ids = platform_ids(query)
    assert ids == PlatformIds("prolific", "5f3a9c0e1b2d4e6f7a8b9c0d", "st1", "se1")
    assert platform_ids({"workerId": "A1B2", "hitId": "H", "assignmentId": "X"}).platform == "mturk"
    assert platform_ids({"participant_id": "sona-77"}).platform == "generic"
    assert platform_ids({"PROLIFIC_PID": "{{%PROLIFIC_PID%}}"}) is None  # unfilled placeholder
    assert platform_ids({"p": "x"}) is None
    with study() as s:
        p = enroll(s, "pilot", platform=ids)
        again = enroll(s, "pilot", platform=ids)
        assert again.id == p.id and s.scalar(select(func.count(Participant.id))) == 1
        _vote_all(s, p)
        votes = votes_frame(s, "pilot")
        assert set(votes["platform_pid"]) == {ids.pid}
        assert set(votes["platform_session_id"]) == {"se1"}
        paths = export_csv(s, "pilot", tmp_path / "out")
    people = pd.read_csv(paths["participants"])
    assert people["platform_pid"].tolist() == [ids.pid] and people["platform"].tolist() == [
        "prolific"
    ]


def _page(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def _text(at: AppTest) -> str:
    parts = [e.value for e in [*at.markdown, *at.info, *at.success, *at.error, *at.title]]
    return "\n".join(str(p) for p in parts)


def test_prolific_link_consent_resume_and_completion_in_the_app(study):
    with study() as s:
        configure_study(
            s,
            "pilot",
            consent_text="**Custom consent** for this lab.",
            demographics="age",
            completion_url=DONE_URL,
            completion_code="C0MPL3T3",
        )
    pid = "60aa11bb22cc33dd44ee55ff"
    link = {"study": "pilot", "PROLIFIC_PID": pid, "STUDY_ID": "s-1", "SESSION_ID": "x-1"}
    at = _page(link)
    assert "Custom consent" in _text(at)
    assert [r.label for r in at.radio] == [] and len(at.number_input) == 1  # age only
    assert pid not in _text(at)
    at.checkbox[0].check()
    at.number_input[0].set_value(25)
    at.button[0].click()
    at.run()
    assert at.get("progress")[0].proto.text == "Pair 1 of 3"
    next(b for b in at.button if b.label == "The left video").click()
    at.run()
    # The same Prolific link in a new browser (no token) resumes at pair 2, no second session.
    back = _page(link)
    assert back.get("progress")[0].proto.text == "Pair 2 of 3"
    with study() as s:
        p = s.scalar(select(Participant))
        assert (p.platform, p.platform_pid, p.platform_study_id, p.platform_session_id) == (
            "prolific",
            pid,
            "s-1",
            "x-1",
        )
        assert s.scalar(select(func.count(Participant.id))) == 1 and p.age == 25
        assert p.gender is None
        _vote_all(s, p)
    done = _page(link)
    assert "Thank you" in done.title[0].value
    assert done.code[0].value == "C0MPL3T3"
    link_buttons = done.get("link_button")
    assert link_buttons and link_buttons[0].proto.url == DONE_URL
    assert pid not in _text(done)


def test_catch_rule_screens_out_with_its_code(study):
    with study() as s:
        configure_study(
            s,
            "pilot",
            completion_code="GOOD1",
            screenout_url="https://app.prolific.com/submissions/complete?cc=SCREEN1",
            screenout_code="SCREEN1",
        )
        p = enroll(s, "pilot", platform=PlatformIds("prolific", "bad0bad0"))
        catch = s.scalar(
            select(Assignment).join(CatchTrial, CatchTrial.pair_id == Assignment.pair_id)
        )
        correct = s.scalar(select(CatchTrial.correct))
        record_vote(s, p.token, catch.pair_id, "AB".replace(correct, ""), 10)
        left = s.scalar(select(func.count(Assignment.id))) - 1
    at = _page({"p": p.token})
    assert at.code[0].value == "SCREEN1"
    assert "attention checks" in _text(at)
    with study() as s:  # screened out early: the other pairs stay unanswered, nothing lost
        assert s.scalar(select(func.count(Vote.id))) == 1 and left == 2


def test_closed_study_tells_new_and_returning_participants(study):
    with study() as s:
        p = enroll(s, "pilot")
        record_vote(s, p.token, next_assignment(s, p).pair_id, "A", 5)
        set_open(s, "pilot", False)
    new = _page({"study": "pilot"})
    assert "closed" in _text(new) and not new.checkbox
    back = _page({"p": p.token})
    assert "1 answer(s) are saved" in _text(back) and not back.get("iframe")
    with study() as s:
        set_open(s, "pilot", True)
    back = _page({"p": p.token})
    assert back.get("progress")[0].proto.text == "Pair 2 of 3"
    # one who finished (say, just before the target closed it) still gets the way out
    with study() as s:
        configure_study(s, "pilot", completion_url=DONE_URL, completion_code="C0MPL3T3")
        _vote_all(s, p)
        set_open(s, "pilot", False)
    done = _page({"p": p.token})
    assert "Thank you" in done.title[0].value and done.code[0].value == "C0MPL3T3"
    assert done.get("link_button")[0].proto.url == DONE_URL


def test_cli_close_open_and_configure(study, capsys):
    from fme.cli import main

    assert main(["study", "close", "pilot"]) == 0
    assert "is closed" in capsys.readouterr().out
    assert main(["study", "open", "pilot", "--target", "2"]) == 0
    assert "open: 0 finished of a target of 2" in capsys.readouterr().out
    assert main(["study", "configure", "pilot", "--completion-url", "ftp://x"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    with study() as s:
        from db.models import Study

        row = s.scalar(select(Study))
        assert row.is_open and row.target_finished == 2 and row.completion_url is None


def test_gate_and_attention_records():
    from types import SimpleNamespace

    from study.pages.attention import Gate, gate_for, read_attention

    rule = SimpleNamespace(min_view_s=1.5, min_view_loop=True, pair_time_limit_s=20)
    # the longer video (0.8 s) at half speed takes 1.6 s to loop once: longer than 1.5 s
    assert gate_for(rule, (0.4, 0.8), 0.5) == Gate(1600, True, 20_000)
    rule = SimpleNamespace(min_view_s=0, min_view_loop=False, pair_time_limit_s=None)
    assert gate_for(rule, (0.4, 0.8), 1.0) == Gate(0, False, 0)
    seen = read_attention(
        {"events": [{"event": "blur", "time": 900}, {"event": "focus", "time": 4100}, "junk"]}
    )
    assert seen.blur_count == 1
    assert seen.focus_events == '[{"event": "blur", "time": 900}, {"event": "focus", "time": 4100}]'
    assert read_attention(None).blur_count is None


def test_minimum_viewing_time_refuses_an_early_vote_in_the_app(study):
    with study() as s:
        configure_study(s, "pilot", min_view_s=30, pair_time_limit_s=60)
        p = enroll(s, "pilot")
    at = _page({"p": p.token})
    assert at.get("progress")[0].proto.text == "Pair 1 of 3"
    next(b for b in at.button if b.label == "The left video").click()
    at.run()
    assert "Please watch both videos" in at.warning[0].value
    assert at.get("progress")[0].proto.text == "Pair 1 of 3"
    with study() as s:
        assert s.scalar(select(func.count(Vote.id))) == 0
        configure_study(s, "pilot", min_view_s=0)
    at = _page({"p": p.token})
    next(b for b in at.button if b.label == "The left video").click()
    at.run()
    assert at.get("progress")[0].proto.text == "Pair 2 of 3"
    with study() as s:
        vote = s.scalar(select(Vote))
        assert vote.over_time is False and vote.blur_count is None  # AppTest sends no events
        with pytest.raises(ConfigError, match="time limit"):
            configure_study(s, "pilot", pair_time_limit_s=0)


def test_blurs_are_exported_and_summed_per_participant(study):
    from study.export import study_progress

    events = '[{"event": "blur", "time": 5}, {"event": "focus", "time": 9}]'
    with study() as s:
        p = enroll(s, "pilot")
        q = enroll(s, "pilot")
        for k, a in enumerate(
            s.scalars(select(Assignment).where(Assignment.participant_id == p.id))
        ):
            record_vote(
                s, p.token, a.pair_id, "A", 10, blur_count=k, focus_events=events, over_time=k == 2
            )
        votes = votes_frame(s, "pilot")
        assert votes["blur_count"].tolist() == [0, 1, 2]
        assert votes["over_time"].tolist() == [False, False, True]
        frame = study_progress(s, "pilot").frame.set_index("participant")
        assert frame["blurs"].tolist() == [3, 0] and frame["over_time"].tolist() == [1, 0]
        assert q.id > p.id


PG_URL = os.environ.get("FME_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    """A migrated database holding the study: SQLite, and PostgreSQL when
    FME_TEST_POSTGRES_URL names a server (a fresh database on it)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from db.engine import make_engine
    from db.migrate import migrated_sessions

    admin = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        if not PG_URL:
            pytest.skip("set FME_TEST_POSTGRES_URL to a PostgreSQL server")
        name = f"fme_race_{secrets.token_hex(4)}"
        admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    factory = migrated_sessions(url)
    dirs = make_method_dirs(tmp_path / "videos", LABELS, samples=SAMPLES)
    with factory() as s:
        create_study(s, "pilot", dirs, sets=[tuple(LABELS)], media_dir=tmp_path / "c")
    yield factory
    factory.kw["bind"].dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _at_once(factory, n: int, fn) -> list:
    """Run `fn(session)` in n threads released together; each result or exception."""
    barrier = threading.Barrier(n)

    def one(_):
        with factory() as s:
            barrier.wait()
            try:
                return fn(s)
            except Exception as err:  # collected: the test looks at them
                return err

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_enrolment_keeps_one_session_per_platform_id_and_the_target(any_db, monkeypatch):
    import study.design as design

    counted = design.enrolment

    def slow_count(*args, **kwargs):  # widen the race window between insert and count
        time.sleep(0.05)
        return counted(*args, **kwargs)

    monkeypatch.setattr(design, "enrolment", slow_count)
    ids = PlatformIds("prolific", "aa11bb22cc33", "st", "se")
    got = _at_once(any_db, 6, lambda s: enroll(s, "pilot", platform=ids).id)
    assert all(isinstance(g, int) for g in got), got
    assert len(set(got)) == 1  # six tabs, one session
    with any_db() as s:
        configure_study(s, "pilot", target_finished=4)
    got = _at_once(any_db, 8, lambda s: enroll(s, "pilot").id)
    made = [g for g in got if isinstance(g, int)]
    refused = [g for g in got if isinstance(g, DataError)]
    assert len(made) == 3 and len(refused) == 5, got  # 1 (above) + 3 = the target of 4
    assert all("target of 4" in str(e) for e in refused)
    with any_db() as s:
        rows = s.execute(select(Assignment.participant_id, Assignment.position)).all()
        assert s.scalar(select(func.count(Participant.id))) == 4
        n_pairs = s.scalar(select(func.count(Pair.id)))
        assert n_pairs == len(SAMPLES) and len(rows) == 4 * n_pairs
        assert len(set(rows)) == len(rows)
        # the join indices 0..3 were counted one at a time: sides balance over all four
        sides = Counter(s.execute(select(Assignment.pair_id, Assignment.a_side)).all())
        assert set(sides.values()) == {2}


def test_cli_create_takes_the_hosting_options(study, tmp_path, capsys):
    from db.models import Study
    from fme.cli import main

    videos = tmp_path / "videos"
    consent = tmp_path / "consent.md"
    consent.write_text("# Our consent\nPaid study.", encoding="utf-8")
    base = ["study", "create", "s2", "--method", f"A={videos / 'fomm'}"]
    base += ["--method", f"B={videos / 'fomm_ewp'}", "--set", "A:B"]
    missing = [*base, "--consent", str(tmp_path / "nope.md")]
    assert main(missing) == 2 and "nope.md" in capsys.readouterr().err
    options = ["--target", "2", "--demographics", "none", "--consent", str(consent)]
    options += ["--min-view-s", "1.5", "--min-view-loop", "--time-limit-s", "40"]
    options += ["--completion-url", DONE_URL, "--completion-code", "C0MPL3T3"]
    assert main([*base, *options]) == 0
    with study() as s:
        row = s.scalar(select(Study).where(Study.name == "s2"))
        assert (row.target_finished, row.demographics, row.consent_text) == (
            2,
            "",
            "# Our consent\nPaid study.",
        )
        assert (row.min_view_s, row.min_view_loop, row.pair_time_limit_s) == (1.5, True, 40.0)
        assert (row.completion_url, row.completion_code) == (DONE_URL, "C0MPL3T3")


def test_admin_hosting_tab_says_how_enrolment_stands(study, monkeypatch):
    from study.pages import shared

    monkeypatch.setenv("FME_ADMIN_PASSWORD", "pw")
    shared.rate_limiter.clear()

    def hosting_line() -> str:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        at.switch_page("study/pages/admin.py").run()
        at.text_input[0].input("pw")
        at.button[0].click()
        at.run()
        assert not at.exception
        return next(m.value for m in at.markdown if m.value.startswith("The study is"))

    with study() as s:
        configure_study(s, "pilot", target_finished=1)
        p = enroll(s, "pilot")
    assert hosting_line().endswith(
        "0 finished of a target of 1, 1 in progress; enrolment stopped (target reached)."
    )
    with study() as s:
        _vote_all(s, p)
        set_open(s, get_study(s, "pilot"), False)
    assert hosting_line() == (
        "The study is **closed**: 1 finished of a target of 1, 0 in progress; enrolment closed."
    )
