"""The Streamlit app through AppTest: volunteer flow against the database, blinding, admin."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest
from study_helpers import make_db, make_method_dirs, tiny_clip

from db.models import Assignment, Participant, Study, Video, Vote
from db.votes import next_assignment, record_vote
from fme.core.errors import DataError
from generation.data.video import write_mp4
from study.design import create_study, enroll
from study.export import votes_frame
from study.media import video_bytes
from study.pages import shared

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LABELS = ["FOMM", "FOMM+EWP"]
SAMPLES = ["007_7_1-normalized_westernMale", "sub19_EP01_01f-normalized_asianFemale"]
TIMEOUT = 60


@pytest.fixture()
def study(tmp_path, monkeypatch):
    url, engine, factory = make_db(tmp_path / "app.db")
    monkeypatch.setenv("FME_DATABASE_URL", url)
    monkeypatch.delenv("FME_ADMIN_PASSWORD", raising=False)
    dirs = make_method_dirs(tmp_path / "videos", LABELS, samples=SAMPLES)
    with factory() as s:
        create_study(s, "pilot", dirs, sets=[tuple(LABELS)], catch=1, media_dir=tmp_path / "catch")
    yield factory, dirs
    engine.dispose()


def _walk(node, out: list) -> list:
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            out.append(child)
            _walk(child, out)
    return out


def page_text(at: AppTest) -> str:
    """Everything the page sends to the browser, as protobuf text."""
    return "\n".join(str(getattr(e, "proto", "")) for e in _walk(at._tree, []))


_B64 = re.compile(r'(?:left|right): \\"([A-Za-z0-9+/=]+)\\"')


def assert_blind(at: AppTest, forbidden: list[str]) -> int:
    """No forbidden string in the page, nor in the embedded video bytes; the video count."""
    text = page_text(at)
    payloads = _B64.findall(text)
    visible = _B64.sub("", text)
    for word in forbidden:
        assert word not in visible, f"{word!r} reaches the page"
        for payload in payloads:
            assert word.encode() not in base64.b64decode(payload), f"{word!r} in video bytes"
    return len(payloads)


def _consent(at: AppTest) -> AppTest:
    at.checkbox[0].check()
    at.number_input[0].set_value(30)
    at.radio[0].set_value("female")
    at.button[0].click()
    return at.run()


def _progress_text(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def _click(at: AppTest, side: str) -> AppTest:
    button = next(b for b in at.button if b.label == f"The {side} video")
    button.click()
    return at.run()


def _forbidden(tmp_dirs: dict[str, Path]) -> list[str]:
    words = [*LABELS, ".mp4", "videos/"]
    words += [d.name for d in tmp_dirs.values()]
    words += [s.split("-")[0] for s in SAMPLES]
    return words


def test_volunteer_flow_votes_resume_and_blinding(study):
    factory, dirs = study
    forbidden = _forbidden(dirs)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert_blind(at, forbidden)
    assert len(at.text_input) and len(at.text_area)  # else the check below is vacuous
    assert all(0 < t.proto.max_chars <= 500 for t in [*at.text_input, *at.text_area])
    at = _consent(at)
    token = at.query_params["p"]
    token = token[0] if isinstance(token, list) else token
    n_pairs = len(SAMPLES) + 1
    assert _progress_text(at) == f"Pair 1 of {n_pairs}"
    assert len(at.get("iframe")) == 1
    assert assert_blind(at, forbidden) == 2
    with factory() as s:
        p = s.scalar(select(Participant).where(Participant.token == token))
        assert (p.age, p.gender) == (30, "female")
        first = s.scalar(
            select(Assignment).where(Assignment.participant_id == p.id, Assignment.position == 0)
        )

    at = _click(at, "left")
    with factory() as s:
        votes = s.scalars(select(Vote)).all()
        assert len(votes) == 1 and votes[0].pair_id == first.pair_id
        assert votes[0].choice == ("A" if first.a_side == "left" else "B")
        assert votes[0].response_ms >= 0
    assert _progress_text(at) == f"Pair 2 of {n_pairs}"
    assert assert_blind(at, forbidden) == 2

    # A reload (a new session with the same token) resumes at the next unanswered pair.
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)
    again.query_params["p"] = token
    again.run()
    assert _progress_text(again) == f"Pair 2 of {n_pairs}"
    # Two tabs on the same pair: the second click on the stale pair is ignored.
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.query_params["p"] = token
    other.run()
    again = _click(again, "right")
    other = _click(other, "left")
    with factory() as s:
        assert s.scalar(select(func.count(Vote.id))) == 2
        assert len(set(s.execute(select(Vote.participant_id, Vote.pair_id)).all())) == 2
    assert _progress_text(other) == f"Pair 3 of {n_pairs}"

    other = _click(other, "left")
    assert not other.get("progress")
    assert "Thank you" in other.title[0].value
    assert_blind(other, forbidden)
    with factory() as s:
        assert s.scalar(select(func.count(Vote.id))) == n_pairs
        assert s.scalar(select(Participant.finished_at)) is not None


def test_unknown_token_is_refused(study):
    factory, _ = study
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["p"] = "not-a-token"
    at.run()
    assert "not valid" in at.error[0].value
    with factory() as s:
        assert s.scalar(select(func.count(Vote.id))) == 0


def test_admin_without_password_says_how_to_set_it(study):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("study/pages/admin.py")
    at.run()
    assert "FME_ADMIN_PASSWORD" in at.warning[0].value
    assert not at.text_input  # no login form, no default password


def _login(at: AppTest, password: str) -> AppTest:
    at.text_input[0].input(password)
    at.button[0].click()
    return at.run()


def test_admin_refuses_wrong_password_and_rate_limits(study, monkeypatch):
    monkeypatch.setenv("FME_ADMIN_PASSWORD", "correct horse")
    shared.rate_limiter.clear()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("study/pages/admin.py").run()
    at = _login(at, "wrong")
    assert at.error[0].value == "Wrong password."
    assert not at.metric
    for _ in range(shared.MAX_FAILURES - 1):
        at = _login(at, "still wrong")
    at = _login(at, "correct horse")  # the right one, but too many failures before it
    assert "Too many failed tries" in at.error[0].value
    assert not at.metric
    shared.rate_limiter.clear()
    at = _login(at, "correct horse")
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Participants"] == "0"


def test_admin_sees_votes_and_limits_inputs(study, monkeypatch):
    factory, _ = study
    monkeypatch.setenv("FME_ADMIN_PASSWORD", "pw")
    shared.rate_limiter.clear()
    with factory() as s:  # three volunteers vote every pair through the app's functions
        for k in range(3):
            p = enroll(s, "pilot", age=30 + k, gender="male")
            while (a := next_assignment(s, p)) is not None:
                record_vote(s, p.token, a.pair_id, "A" if (a.pair_id + k) % 3 else "B", 100)
        expected = votes_frame(s, "pilot")
        s.scalar(select(Study).where(Study.name == "pilot")).planned_n = 3  # reached
        s.commit()
    scored = expected.loc[~expected["is_catch"]]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("study/pages/admin.py").run()
    at = _login(at, "pw")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Participants"] == "3" and metrics["Finished"] == "3"
    assert metrics["Catch failures"] == str(int((~expected["catch_passed"].dropna()).sum()))
    assert len(at.text_input) and len(at.text_area)  # else the checks below are vacuous
    assert all(t.proto.max_chars > 0 for t in at.text_input)
    assert all(t.proto.max_chars > 0 for t in at.text_area)
    counts = next(d.value for d in at.dataframe if "votes_a" in d.value.columns)
    assert counts["votes_a"].tolist() == [int((scored["choice"] == "A").sum())]
    assert counts["votes_b"].tolist() == [int((scored["choice"] == "B").sum())]
    headers = [h.value for h in at.subheader]
    assert "Sets" in headers  # the statistics report's tables are shown
    downloads = {b.label.split(" (")[0] for b in at.get("download_button")}
    assert downloads == {"Votes CSV", "Ratings CSV"}


def test_admin_hides_tests_until_the_planned_n_but_shows_counts(study, monkeypatch):
    factory, _ = study
    monkeypatch.setenv("FME_ADMIN_PASSWORD", "pw")
    shared.rate_limiter.clear()
    with factory() as s:
        for k in range(3):
            p = enroll(s, "pilot", age=30 + k, gender="male")
            while (a := next_assignment(s, p)) is not None:
                record_vote(s, p.token, a.pair_id, "A" if (a.pair_id + k) % 2 else "B", 100)
        s.scalar(select(Study).where(Study.name == "pilot")).planned_n = 10
        s.commit()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("study/pages/admin.py").run()
    at = _login(at, "pw")
    assert not at.exception
    assert any("votes_a" in d.value.columns for d in at.dataframe)  # counts stay visible
    headers = [h.value for h in at.subheader]
    assert "Sets" not in headers and "Crossed" not in headers
    assert any("3 of the planned 10" in i.value for i in at.info)
    assert "p_value" not in page_text(at)


def test_media_outside_study_folders_is_not_served(study, tmp_path):
    factory, dirs = study
    outside = write_mp4(tmp_path / "elsewhere" / "x-y.mp4", tiny_clip(999), fps=10)
    with factory() as s:
        video = s.scalars(select(Video).where(Video.kind == "method")).first()
        assert video_bytes(s, video.id)[4:8] == b"ftyp"
        original = Path(video.path)
        video.path = str(outside)
        s.commit()
        with pytest.raises(DataError, match="outside"):
            video_bytes(s, video.id)
        video.path = str(original)
        s.commit()
        original.write_bytes(outside.read_bytes())  # swapped on disk after registration
        with pytest.raises(DataError, match="changed on disk"):
            video_bytes(s, video.id)


def test_serve_binds_to_localhost_by_default():
    import argparse

    from fme.commands.study import register, serve_command

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["study", "serve"])
    assert args.host == "127.0.0.1"
    cmd = serve_command(args.host, args.port)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("run") + 1].endswith("app.py")


def test_served_bytes_drop_tags_that_could_name_a_method(tmp_path):
    import av

    from generation.data.video import read_video
    from study.media import strip_metadata

    path = tmp_path / "tagged.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        out.metadata["title"] = "FOMM+EWP output"
        stream = out.add_stream("libx264", rate=10)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        stream.metadata["handler_name"] = "MRAA+AWP"
        for image in tiny_clip(5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    assert b"FOMM+EWP" in data and b"MRAA+AWP" in data
    clean = strip_metadata(data)
    assert b"FOMM+EWP" not in clean and b"MRAA+AWP" not in clean
    (tmp_path / "clean.mp4").write_bytes(clean)
    assert (read_video(tmp_path / "clean.mp4") == read_video(path)).all()  # same frames


def test_expert_scores_blinded_videos_beside_driving_clips(tmp_path, monkeypatch):
    from db.models import ExpertRating
    from generation.data.video import read_video, write_mp4
    from study.design import add_expert

    url, engine, factory = make_db(tmp_path / "expert.db")
    monkeypatch.setenv("FME_DATABASE_URL", url)
    dirs = make_method_dirs(tmp_path / "videos", LABELS, samples=SAMPLES)
    driving = tmp_path / "driving"
    for i, sample in enumerate(SAMPLES):
        write_mp4(driving / f"{sample.split('-')[0]}.mp4", tiny_clip(50 + i), fps=10)
    with factory() as s:
        create_study(s, "exp", dirs, sets=[tuple(LABELS)], driving_dir=driving)
        token = add_expert(s, "exp", "expert 1").token

    bad = AppTest.from_file(APP, default_timeout=TIMEOUT)
    bad.switch_page("study/pages/expert.py")
    bad.query_params["expert"] = "nope"
    bad.run()
    assert "not valid" in bad.error[0].value

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("study/pages/expert.py")
    at.query_params["expert"] = token
    at.run()
    n_videos = len(LABELS) * len(SAMPLES)
    assert at.get("progress")[0].proto.text == f"0 of {n_videos} videos scored"
    assert assert_blind(at, _forbidden(dirs)) == 2  # the video and its driving clip
    shown = [base64.b64decode(p) for p in _B64.findall(page_text(at))]
    for radio, score in zip(at.radio, (3, 1, 2)):
        radio.set_value(score)
    at.button[0].click()
    at.run()
    assert at.get("progress")[0].proto.text == f"1 of {n_videos} videos scored"
    with factory() as s:
        rating = s.scalars(select(ExpertRating)).one()
        assert (rating.upper, rating.lower, rating.noise) == (3, 1, 2)
        video = s.get(Video, rating.video_id)
        assert video.kind == "method"
    for data, expected in ((shown[0], driving / f"{video.driving}.mp4"), (shown[1], video.path)):
        (tmp_path / "shown.mp4").write_bytes(data)
        assert (read_video(tmp_path / "shown.mp4") == read_video(expected)).all()
    engine.dispose()


def test_serve_under_a_url_prefix_for_a_reverse_proxy():
    from fme.commands.study import serve_command, url_prefix
    from fme.core.errors import ConfigError

    cmd = serve_command("127.0.0.1", 8501, base_url_path="/studies/fme/")
    assert cmd[cmd.index("--server.baseUrlPath") + 1] == "studies/fme"
    assert "--server.baseUrlPath" not in serve_command("127.0.0.1", 8501)
    assert url_prefix("") == "" and url_prefix("/") == ""
    with pytest.raises(ConfigError, match="--base-url-path"):
        url_prefix("fme?x=<script>")
