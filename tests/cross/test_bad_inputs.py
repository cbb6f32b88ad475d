"""Bad inputs to every `fme` command: each answered in at most three lines naming the option
or file, exit status 2, no traceback; and nothing lost on a rerun.

The table holds the 57 inputs of the bad-input audit that fell short (their audit ids in
the case names) and more of the same families: option values, output paths, database URLs,
unclear messages. Every case runs in-process through `fme.cli.main` in a folder prepared
once for the module (tiny checkpoint, prepared clips, method folders, a study database).
The data-loss scenarios of the audit (catch clips shared by two studies, a manifest emptied
by a failed rerun, a damaged clip taken as finished, a MEGC folder mixing two models) are
tests of their own at the end.
"""

from __future__ import annotations

import csv
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_helpers import CASME2_ROWS, Row, write_casme2
from engine_helpers import astronaut, make_prepared, small_model_config, write_templates
from PIL import Image
from study_helpers import make_method_dirs, write_votes_csv

from fme.cli import main
from fme.core.digest import sha256_file

MAX_LINES = 3


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _checkpoint(path: Path, seed: int = 0) -> Path:
    import torch

    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.models import build_model

    torch.manual_seed(seed)
    return save_checkpoint(path, build_model("fomm", small_model_config("fomm")), step=0)


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The folder every case runs in (paths in the table are relative to it)."""
    w = tmp_path_factory.mktemp("bad")
    (w / "a_file.txt").write_text("not a folder\n")
    (w / "empty_root").mkdir()
    (w / "garbage.db").write_bytes(np.random.default_rng(0).bytes(4096))
    # prepared clips (no dlib), one clip folder D, a damaged copy of a clip
    prep = make_prepared(w / "prep", subjects=2, clips_per_subject=1, n_frames=4)
    damaged = w / "prep_damaged" / "clip"
    shutil.copytree(prep / "casme2" / "sub01" / "EP01_01", damaged)
    (damaged / "landmarks.npz").write_bytes(b"PK not a zip")
    bare = w / "prep_bare" / "clip"
    shutil.copytree(prep / "casme2" / "sub01" / "EP01_01" / "frames", bare / "frames")
    # images and videos
    img = w / "img"
    img.mkdir()
    Image.fromarray(astronaut()).save(img / "face.png")
    gray = np.asarray(Image.fromarray(astronaut()).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray).save(img / "gray16.png")
    (w / "vid").mkdir()
    _audio_only(w / "vid" / "audio_only.mp4")
    # checkpoints
    (w / "ckpt").mkdir()
    _checkpoint(w / "ckpt" / "fomm.pt")
    (w / "ckpt" / "random.pt").write_bytes(np.random.default_rng(1).bytes(2048))
    # MEGC inputs
    write_templates(w / "megc" / "tpl_good")
    (w / "megc" / "one.txt").write_text("casme2/sub01/EP01_01\n")
    # datasets with awkward sheets
    write_casme2(w / "zero_frames", rows=(Row(1, "EP01_01", 1, 0, 1, 1, 1, "4", "others"),))
    (w / "zero_frames" / "CASME2_RAW_selected" / "sub01" / "EP01_01").mkdir(parents=True)
    write_casme2(w / "onset_gt_offset", rows=(Row(1, "EP01_01", 1, 6, 5, 3, 2, "4", "others"),))
    write_casme2(w / "nonnumeric_onset", rows=(Row(1, "EP01_01", 1, 6, "abc", 3, 6, "4", "x"),))
    write_casme2(w / "wrong_subjects", rows=CASME2_ROWS[:2], sheet_subject="{:02d}9")
    write_casme2(w / "good", rows=CASME2_ROWS[:1])
    # study side: method folders, a study database, votes and ratings
    dirs = make_method_dirs(w / "sets", ["FOMM", "FOMM+EWP"])
    assert dirs["FOMM"].name == "fomm" and dirs["FOMM+EWP"].name == "fomm_ewp"
    (w / "rec").mkdir()
    (w / "csv").mkdir()
    write_votes_csv(w / "csv" / "votes_good.csv")
    # an OpenFace-style AU track of 3 rows: the prepared clips have 4 frames
    (w / "csv" / "au_3rows.csv").write_text(
        "frame,timestamp,AU01_r,AU12_r\n1,0,0.1,0.2\n2,0.01,0.2,0.3\n3,0.02,0.1,0.1\n"
    )
    bad = pd.read_csv(w / "csv" / "votes_good.csv")
    bad["pair_id"] = bad["pair_id"].astype(str)
    first = bad["participant"] == "p0"
    bad.loc[first, "pair_id"] = "pair-" + bad.loc[first, "pair_id"]  # same sample, new id
    bad.to_csv(w / "csv" / "votes_nonnum_pair.csv", index=False)
    bad = pd.read_csv(w / "csv" / "votes_good.csv")
    bad["is_catch"] = bad["is_catch"].astype(object)
    bad.loc[3, "is_catch"] = "maybe"
    bad.to_csv(w / "csv" / "votes_bad_catch.csv", index=False)
    good = pd.read_csv(w / "csv" / "votes_good.csv")
    two = pd.concat([good.assign(study="first"), good.assign(study="second")])
    two.to_csv(w / "csv" / "votes_two_studies.csv", index=False)
    ratings = [
        {"expert": e, "method": m, "video": v, "upper": 1, "lower": 2, "noise": 0}
        for e in ("E1", "E2")
        for m in ("FOMM", "FOMM+EWP", "MRAA")
        for v in ("v1", "v2", "v3")
        if not (e == "E2" and m == "MRAA" and v == "v3")
    ]
    pd.DataFrame(ratings).to_csv(w / "csv" / "ratings_incomplete.csv", index=False)
    old = Path.cwd()
    try:
        import os

        os.chdir(w)
        rc = main(
            [
                "study",
                "create",
                "ok",
                "--method",
                "FOMM=sets/fomm",
                "--method",
                "FOMM+EWP=sets/fomm_ewp",
                "--set",
                "FOMM:FOMM+EWP",
                "--db",
                "sqlite:///study.db",
            ]
        )
    finally:
        os.chdir(old)
    assert rc == 0
    return w


CK = "ckpt/fomm.pt"
D = "prep/casme2/sub01/EP01_01"
P = "prep"
DB = "sqlite:///study.db"
METHODS = ["--method", "FOMM=sets/fomm", "--method", "FOMM+EWP=sets/fomm_ewp"]
STUDY = ["study", "create", "x", *METHODS, "--set", "FOMM:FOMM+EWP"]
ANIMATE = ["animate", "--checkpoint", CK, "--target", "img/face.png", "--driving", D]
TRAIN = ["train", "--variant", "fomm", "--data", P, "--size", "64", "--iterations", "2"]
MEGC = ["megc", "--checkpoint", CK, "--templates", "megc/tpl_good", "--drivers", "megc/one.txt"]
IMPORT = ["import-checkpoint", "--from", "fomm"]
REC = ["eval", "train-recognizers", "--data", P, "--out", "rec_out", "--size", "32"]
AUG = ["eval", "augment", "--data", P, "--checkpoint", CK, "--out", "aug"]
REPORT = ["study", "report", "--votes", "csv/votes_good.csv", "--out", "rep", "--no-png"]
POWER = ["study", "power"]
PG = "postgresql+psycopg://u:secret@127.0.0.1:{port}/fme"

# (case id, argv, text the one-line answer must name); one case a line, as a table
# fmt: off
CASES: list[tuple[str, list[str], str]] = [
    # -- fme prepare
    ("p08_zero_frames", ["prepare", "casme2", "zero_frames", "out", "--size", "64", "--quiet"], "zero_frames"),
    ("p09_onset_gt_offset", ["prepare", "casme2", "onset_gt_offset", "out", "--quiet"], "onset"),
    ("p14_wrong_subjects", ["prepare", "casme2", "wrong_subjects", "out", "--quiet"], "subject"),
    ("p18_out_is_file", ["prepare", "casme2", "good", "a_file.txt", "--quiet"], "a_file.txt"),
    ("p19_nonnumeric_onset", ["prepare", "casme2", "nonnumeric_onset", "out", "--quiet"], "'abc'"),
    ("p22_rerun_wrong_root", ["prepare", "casme2", "empty_root", P, "--quiet"], "empty_root"),
    ("prep_out_under_file", ["prepare", "casme2", "good", "a_file.txt/out", "--quiet"], "a_file.txt"),
    ("prep_size_0", ["prepare", "casme2", "good", "out", "--size", "0", "--quiet"], "--size"),
    ("prep_size_text", ["prepare", "casme2", "good", "out", "--size", "big", "--quiet"], "--size"),
    ("prep_margin_neg", ["prepare", "casme2", "good", "out", "--margin", "-1", "--quiet"], "--margin"),
    ("prep_landmarks", ["prepare", "casme2", "good", "out", "--landmarks", "x", "--quiet"], "--landmarks"),
    ("prep_unwritable", ["prepare", "casme2", "good", "/proc/fme_out", "--quiet"], "cannot write"),
    # -- fme synth
    ("synth_fps_0", ["synth", "out", "--fps", "0"], "--fps"),
    ("synth_subjects_0", ["synth", "out", "--subjects", "0"], "--subjects"),
    ("synth_faces_missing", ["synth", "out", "--faces", "nope"], "--faces"),
    ("synth_out_is_file", ["synth", "a_file.txt"], "a_file.txt"),
    # -- fme train
    ("t09_device_bogus", [*TRAIN, "--out", "run", "--device", "gpu0"], "--device"),
    ("t13_out_is_file", [*TRAIN, "--out", "a_file.txt"], "a_file.txt"),
    ("train_out_under_file", [*TRAIN, "--out", "a_file.txt/run"], "lies under the file"),
    ("train_batch_0", [*TRAIN, "--out", "run", "--batch-size", "0"], "--batch-size"),
    ("train_iterations_0", [*TRAIN[:-1], "0", "--out", "run"], "--iterations"),
    ("train_lr_neg", [*TRAIN, "--out", "run", "--lr", "-0.001"], "--lr"),
    ("train_holdout_1", [*TRAIN, "--out", "run", "--holdout", "1"], "--holdout"),
    ("train_workers_neg", [*TRAIN, "--out", "run", "--num-workers", "-1"], "--num-workers"),
    ("train_size_nan", [*TRAIN[:5], "--size", "nan", "--out", "run"], "--size"),
    ("train_variant", ["train", "--variant", "gan", "--data", P, "--out", "run"], "--variant"),
    # -- fme animate
    ("a07_target_is_dir", [*ANIMATE[:4], "img", *ANIMATE[5:], "--out", "o.mp4"], "is a folder"),
    ("a12_driving_audio_only", [*ANIMATE[:6], "vid/audio_only.mp4", "--out", "o.mp4"], "audio"),
    ("a22_batch_0", [*ANIMATE, "--out", "o.mp4", "--batch-size", "0"], "--batch-size"),
    ("a23_out_is_dir", [*ANIMATE, "--out", "empty_root"], "is a folder"),
    ("a24_out_under_file", [*ANIMATE, "--out", "a_file.txt/out.mp4"], "a_file.txt"),
    ("a27_fps_0", [*ANIMATE, "--out", "o.mp4", "--fps", "0"], "--fps"),
    ("a32_fps_neg", [*ANIMATE, "--out", "o.mp4", "--fps", "-5"], "--fps"),
    ("a33_driving_bad_npz", [*ANIMATE[:6], "prep_damaged/clip", "--out", "o.mp4"], "landmarks"),
    ("a34_driving_missing_npz", [*ANIMATE[:6], "prep_bare/clip", "--out", "o.mp4"], "landmarks"),
    ("anim_device", [*ANIMATE, "--out", "o.mp4", "--device", "cuda:x"], "--device"),
    ("anim_onset_neg", [*ANIMATE, "--out", "o.mp4", "--onset", "-1"], "--onset"),
    ("anim_fps_inf", [*ANIMATE, "--out", "o.mp4", "--fps", "inf"], "--fps"),
    (
        "anim_ckpt_random",
        ["animate", "--checkpoint", "ckpt/random.pt", *ANIMATE[3:], "--out", "o.mp4"],
        "random.pt",
    ),
    (
        "anim_ckpt_missing",
        ["animate", "--checkpoint", "nope.pt", *ANIMATE[3:], "--out", "o.mp4"],
        "nope.pt",
    ),
    ("anim_target_missing", [*ANIMATE[:4], "nope.png", *ANIMATE[5:], "--out", "o.mp4"], "nope.png"),
    ("anim_driving_missing", [*ANIMATE[:6], "nope.mp4", "--out", "o.mp4"], "nope.mp4"),
    ("anim_face_beyond", [*ANIMATE, "--out", "o.mp4", "--face", "3"], "--face 3"),
    ("anim_size_0", [*ANIMATE, "--out", "o.mp4", "--size", "0"], "--size"),
    ("anim_au_source_bad", [*ANIMATE, "--out", "o.mp4", "--au-source", "facereader"], "--au-source"),
    ("anim_au_csv_alone", [*ANIMATE, "--out", "o.mp4", "--au-csv", "csv/au_3rows.csv"], "--au-csv"),
    ("anim_au_csv_absent", [*ANIMATE, "--out", "o.mp4", "--au-source", "openface"], "EP01_01"),
    # -- fme au
    ("au_input_missing", ["au", "nope.mp4", "--out", "t.csv"], "nope.mp4"),
    ("au_csv_short", ["au", D, "--au-source", "openface", "--au-csv", "csv/au_3rows.csv", "--out", "t.csv"], "au_3rows.csv"),
    ("au_csv_no_aus", ["au", D, "--au-source", "libreface", "--au-csv", "csv/votes_good.csv", "--out", "t.csv"], "votes_good.csv"),
    ("au_compare_no_aus", ["au", D, "--compare", "csv/votes_good.csv", "--out", "t.csv"], "votes_good.csv"),
    ("au_onset_beyond", ["au", D, "--onset", "9", "--out", "t.csv"], "--onset 9"),
    # -- fme megc
    ("m10_data_missing", [*MEGC, "--data", "nope", "--out", "set"], "nope"),
    ("m15_out_is_file", [*MEGC, "--data", P, "--out", "a_file.txt"], "a_file.txt"),
    ("megc_out_under_file", [*MEGC, "--data", P, "--out", "a_file.txt/set"], "a_file.txt"),
    ("megc_fps_0", [*MEGC, "--data", P, "--out", "set", "--fps", "0"], "--fps"),
    ("megc_batch_0", [*MEGC, "--data", P, "--out", "set", "--batch-size", "0"], "--batch-size"),
    ("megc_device", [*MEGC, "--data", P, "--out", "set", "--device", "tpu"], "--device"),
    ("megc_templates_missing", [*MEGC[:3], "--templates", "nope", *MEGC[5:], "--out", "s"], "nope"),
    ("megc_drivers_missing", [*MEGC[:5], "--drivers", "nope.txt", "--out", "s"], "nope.txt"),
    # -- fme import-checkpoint
    (
        "i01_random_bytes",
        [*IMPORT, "ckpt/random.pt", "--out", "x.pt", "--scale", "small"],
        "random.pt",
    ),
    ("i11_out_under_file", [*IMPORT, "ckpt/random.pt", "--out", "a_file.txt/x.pt"], "a_file.txt"),
    ("import_out_is_dir", [*IMPORT, "ckpt/random.pt", "--out", "empty_root"], "is a folder"),
    ("import_missing", [*IMPORT, "nope.pth.tar", "--out", "x.pt"], "nope.pth.tar"),
    ("import_family", ["import-checkpoint", "--from", "vgg", "f", "--out", "x.pt"], "--from"),
    # -- fme study create / list / export / add-expert / serve
    ("s16_db_bad_scheme", [*STUDY, "--db", "foo://bar"], "foo"),
    ("s17_db_not_url", ["study", "list", "--db", "my database.db"], "my database.db"),
    ("s18_db_dir_missing", ["study", "list", "--db", "sqlite:///no/such/dir/x.db"], "no/such/dir"),
    ("s19_db_under_file", [*STUDY, "--db", "sqlite:///a_file.txt/x.db"], "a_file.txt"),
    ("s20_db_unwritable", ["study", "list", "--db", "sqlite:////proc/fme.db"], "/proc"),
    (
        "s21_db_garbage_file",
        ["study", "list", "--db", "sqlite:///garbage.db"],
        "not a study database",
    ),
    ("s22_db_pg_refused", ["study", "list", "--db", PG], "127.0.0.1"),
    ("s23_db_pg_no_driver", ["study", "list", "--db", "mysql://u:p@127.0.0.1:1/fme"], "install"),
    (
        "s30_export_out_is_file",
        ["study", "export", "ok", "--out", "a_file.txt", "--db", DB],
        "a_file.txt",
    ),
    ("s32_serve_bad_db", ["study", "serve", "--db", "foo://bar", "--port", "8599"], "foo"),
    (
        "s35_fail_catch_badsrc",
        [*STUDY, "--catch", "3", "--media", "a_file.txt/catch", "--db", DB],
        "a_file.txt",
    ),
    ("study_catch_neg", [*STUDY, "--catch", "-1", "--db", DB], "--catch"),
    (
        "study_max_fail_neg",
        [*STUDY, "--max-catch-failures", "-2", "--db", DB],
        "--max-catch-failures",
    ),
    ("study_method_bad", ["study", "create", "x", "--method", "FOMM", "--db", DB], "--method"),
    ("study_looks_bad", [*STUDY, "--planned-n", "20", "--looks", "0.7,0.5", "--db", DB], "looks"),
    ("study_looks_no_n", [*STUDY, "--looks", "0.5,1", "--db", DB], "planned N"),
    (
        "study_name_taken",
        ["study", "create", "ok", *METHODS, "--set", "FOMM:FOMM+EWP", "--db", DB],
        "ok",
    ),
    ("study_serve_port", ["study", "serve", "--db", DB, "--port", "70000"], "--port"),
    ("study_export_unknown", ["study", "export", "nope", "--out", "exp", "--db", DB], "nope"),
    ("study_expert_unknown", ["study", "add-expert", "nope", "E1", "--db", DB], "nope"),
    ("s3_31_expert_base_url", ["study", "add-expert", "ok", "E2", "--base-url", "not a url", "--db", DB], "--base-url"),
    ("study_list_db_is_dir", ["study", "list", "--db", "sqlite:///empty_root"], "folder"),
    (
        "study_pg_driver_name",
        ["study", "list", "--db", "postgresql+nodriver://u@h/db"],
        "postgresql",
    ),
    # -- fme study report / power / expert, fme expert-table
    ("r03_votes_nonnum_pair", [*REPORT[:3], "csv/votes_nonnum_pair.csv", *REPORT[4:]], "pair_id"),
    ("r05_votes_bad_catch", [*REPORT[:3], "csv/votes_bad_catch.csv", *REPORT[4:]], "is_catch"),
    ("r12_votes_alpha_bad", [*REPORT, "--alpha", "1.5"], "--alpha"),
    ("r13_votes_out_is_file", [*REPORT[:5], "a_file.txt"], "a_file.txt"),
    ("report_votes_missing", [*REPORT[:3], "nope.csv", *REPORT[4:]], "nope.csv"),
    ("report_boot_neg", [*REPORT, "--boot", "-1"], "--boot"),
    ("report_two_studies", [*REPORT[:3], "csv/votes_two_studies.csv", *REPORT[4:]], "--study"),
    ("report_study_unknown", [*REPORT, "--study", "nope"], "nope"),
    ("report_margin_bad", [*REPORT, "--equivalence-margin", "0.7"], "equivalence margin"),
    ("report_pass_rate", [*REPORT, "--min-catch-pass-rate", "2"], "--min-catch-pass-rate"),
    (
        "report_db_missing",
        ["study", "report", "ok", "--out", "rep", "--db", "sqlite:///nope.db"],
        "nope.db",
    ),
    (
        "report_db_garbage",
        ["study", "report", "ok", "--out", "rep", "--db", "sqlite:///garbage.db"],
        "garbage.db",
    ),
    (
        "e06_incomplete",
        ["expert-table", "--ratings", "csv/ratings_incomplete.csv", "--out", "exp", "--no-png"],
        "--allow-incomplete",
    ),
    (
        "expert_out_is_file",
        ["expert-table", "--ratings", "csv/ratings_incomplete.csv", "--out", "a_file.txt"],
        "a_file.txt",
    ),
    ("w01_effect_05", [*POWER, "--effect", "0.5", "--pairs", "18"], "--effect"),
    ("w02_effect_04", [*POWER, "--effect", "0.4", "--pairs", "18"], "--effect"),
    ("w03_effect_1", [*POWER, "--effect", "1.0", "--pairs", "18"], "--effect"),
    ("w04_effect_12", [*POWER, "--effect", "1.2", "--pairs", "18"], "--effect"),
    ("w05_pairs_0", [*POWER, "--effect", "0.6", "--pairs", "0"], "--pairs"),
    ("w06_pair_sd_neg", [*POWER, "--effect", "0.6", "--pair-sd", "-0.1"], "--pair-sd"),
    ("w07_alpha_0", [*POWER, "--effect", "0.6", "--alpha", "0"], "--alpha"),
    ("w08_power_1", [*POWER, "--effect", "0.6", "--power", "1.0"], "--power"),
    ("w09_simulate_neg", [*POWER, "--effect", "0.6", "--simulate", "-5"], "--simulate"),
    ("power_effect_text", [*POWER, "--effect", "big"], "--effect"),
    # -- fme eval
    (
        "x09_auto_real_missing",
        [
            "eval",
            "auto",
            "--recognizers",
            "rec",
            "--set",
            "FOMM=sets/fomm",
            "--real",
            "nope",
            "--out",
            "auto",
        ],
        "--real",
    ),
    ("x13_train_rec_iter_0", [*REC, "--iterations", "0"], "--iterations"),
    ("x14_train_rec_frames_0", [*REC, "--frames", "0"], "--frames"),
    ("x19_augment_bad_ratios", [*AUG, "--ratios", "one,two"], "--ratios"),
    (
        "x23_metrics_templates_missing",
        ["eval", "metrics", "--set", "sets/fomm", "--templates", "nope", "--driving", P],
        "--templates",
    ),
    ("rec_out_is_file", [*REC[:4], "--out", "a_file.txt"], "a_file.txt"),
    ("rec_width_0", [*REC, "--width", "0"], "--width"),
    ("rec_device", [*REC, "--device", "gpu"], "--device"),
    ("aug_ratios_neg", [*AUG, "--ratios", "0,-1"], "--ratios"),
    ("aug_out_under_file", [*AUG[:6], "--out", "a_file.txt/aug"], "a_file.txt"),
    ("auto_device", ["eval", "auto", "--recognizers", "rec", "--device", "gpu0"], "--device"),
    (
        "metrics_out_is_file",
        ["eval", "metrics", "--set", "sets/fomm", "--out", "a_file.txt"],
        "a_file.txt",
    ),
    # -- fme demo, top level
    ("y08_demo_out_is_file", ["demo", "--out", "a_file.txt/demo", "--no-serve"], "a_file.txt"),
    ("demo_port", ["demo", "--port", "0", "--no-serve"], "--port"),
    ("unknown_command", ["animat"], "animat"),
]
# fmt: on


def _ids() -> list[str]:
    return [case[0] for case in CASES]


# The audit's cases that are tests of their own below (data loss, and a 16-bit target that
# is now read right, so it is no longer a bad input).
AUDIT_ELSEWHERE = {
    "p26": "test_a_damaged_finished_clip_is_prepared_again",
    "m16": "test_megc_refuses_another_checkpoints_set_unless_replace",
    "s36b": "test_catch_clips_of_two_studies_never_overwrite_each_other",
    "s36c": "test_catch_clips_of_two_studies_never_overwrite_each_other",
    "a03": "test_a_16_bit_grayscale_target_is_read_as_a_face",
}


def test_the_table_covers_every_command_and_the_audit():
    assert len(CASES) >= 80 and len(set(_ids())) == len(CASES)
    audited = [i for i in _ids() if i[0] in "patmisrewxy" and i[1:3].isdigit()]
    assert len(audited) + len(AUDIT_ELSEWHERE) == 57
    for test in AUDIT_ELSEWHERE.values():
        assert callable(globals()[test])
    commands = {
        " ".join(argv[:2]) if argv[0] in ("eval", "study") else argv[0] for _, argv, _ in CASES
    }
    for command in (
        "prepare",
        "synth",
        "train",
        "animate",
        "megc",
        "au",
        "import-checkpoint",
        "demo",
    ):
        assert command in commands
    for sub in ("create", "list", "export", "add-expert", "serve", "report", "power"):
        assert f"study {sub}" in commands
    for sub in ("auto", "augment", "metrics", "train-recognizers"):
        assert f"eval {sub}" in commands


@pytest.mark.parametrize(("case", "argv", "named"), CASES, ids=_ids())
def test_a_bad_input_is_answered_in_one_line(case, argv, named, work, monkeypatch, capsys):
    monkeypatch.chdir(work)
    monkeypatch.delenv("FME_DATABASE_URL", raising=False)
    argv = [a.format(port=_free_port()) if "{port}" in a else a for a in argv]
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"{case}: exit {rc}\n{err}"
    assert 1 <= len(lines) <= MAX_LINES, err
    assert "Traceback" not in err
    assert named in err, err
    assert "secret" not in err  # passwords are masked
    assert not list(work.glob("*.part")) and not (work / "empty_root.part").exists()


REFUSED_OUTPUTS = (
    "run",
    "o.mp4",
    "set",
    "s",
    "x.pt",
    "aug",
    "rec_out",
    "auto",
    "exp",
    "rep",
    "t.csv",
)


def test_nothing_was_written_by_the_refused_cases(work, monkeypatch, capsys):
    """Outputs are checked before work starts: no run, video or set folder was made (the
    table's cases that name these outputs run here again, so the check holds run alone)."""
    monkeypatch.chdir(work)
    monkeypatch.delenv("FME_DATABASE_URL", raising=False)
    refused = [argv for _, argv, _ in CASES if set(argv) & set(REFUSED_OUTPUTS)]
    assert len(refused) >= 5
    for argv in refused:
        assert main([a.format(port=_free_port()) if "{port}" in a else a for a in argv]) == 2
    capsys.readouterr()
    for name in REFUSED_OUTPUTS:
        assert not (work / name).exists(), name
    assert (work / "a_file.txt").read_text() == "not a folder\n"
    assert list((work / "empty_root").iterdir()) == []


def test_a_bug_prints_one_line_then_the_traceback(monkeypatch, capsys):
    import fme.commands.prepare as prepare_cli

    def broken(_args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(prepare_cli, "run", broken)  # registered afresh by main()
    rc = main(["prepare", "casme2", "root", "out"])
    err = capsys.readouterr().err
    assert rc == 1
    first = err.splitlines()[0]
    assert "bug" in first and "report" in first and "Traceback" not in first
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err


def test_a_16_bit_grayscale_target_is_read_as_a_face(work):
    """Audit a03: a 16-bit PNG was turned white ("no frontal face"); it reads as the photo."""
    from generation.animation.animate import prepare_target
    from generation.data.video import read_image

    wide = read_image(work / "img" / "gray16.png")
    gray = np.asarray(Image.fromarray(astronaut()).convert("L"))
    assert wide.dtype == np.uint8 and wide.shape == (*gray.shape, 3)
    assert np.abs(wide[..., 0].astype(int) - gray).max() <= 1
    image, landmarks = prepare_target(work / "img" / "gray16.png", 64)  # dlib finds the face
    assert image.shape == (64, 64, 3) and landmarks.shape == (68, 2)


def test_database_errors_name_the_masked_url_and_the_fix(tmp_path):
    from db.engine import open_engine
    from db.migrate import migrated_sessions
    from fme.core.errors import ConfigError, DataError

    port = _free_port()
    with pytest.raises(ConfigError) as err:
        open_engine(f"postgresql+psycopg://fme:hunter2@127.0.0.1:{port}/fme")
    text = str(err.value)
    assert f"fme:***@127.0.0.1:{port}" in text and "hunter2" not in text
    assert "refused" in text.lower() and "server is running" in text
    garbage = tmp_path / "g.db"
    garbage.write_bytes(b"x" * 1000)
    with pytest.raises(DataError, match="not a study database"):
        migrated_sessions(f"sqlite:///{garbage}")
    assert garbage.read_bytes() == b"x" * 1000  # left as it was
    with pytest.raises(ConfigError, match="Create the folder"):
        open_engine(f"sqlite:///{tmp_path}/missing/x.db")
    # a real SQLite file opens and migrates
    url = f"sqlite:///{tmp_path}/ok.db"
    with migrated_sessions(url)() as session:
        from sqlalchemy import text as sql

        assert session.execute(sql("select count(*) from studies")).scalar() == 0


# ---- nothing lost on a rerun ------------------------------------------------------------


def test_a_failed_prepare_rerun_keeps_the_manifest(work, tmp_path, monkeypatch, capsys):
    prep = shutil.copytree(work / "prep", tmp_path / "prep")
    before = (prep / "manifest.csv").read_text()
    monkeypatch.chdir(work)
    # a root whose sheet names subjects that are not there: every clip is left out
    assert main(["prepare", "casme2", "wrong_subjects", str(prep), "--quiet"]) == 2
    assert (prep / "report.csv").is_file()  # the run did write its report
    assert (prep / "manifest.csv").read_text() == before  # and kept every clip's row
    assert main(["prepare", "casme2", "empty_root", str(prep), "--quiet"]) == 2
    assert (prep / "manifest.csv").read_text() == before
    assert not list(prep.glob("*.part"))
    from generation.data.prepared import load_prepared

    assert [c.key for c in load_prepared(prep)] == [
        "casme2/sub01/EP01_01",
        "casme2/sub02/EP01_01",
    ]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """A CASME II root of one clip whose frames are a face dlib finds (256 px, 4 frames)."""
    root = tmp_path_factory.mktemp("faces")
    face = astronaut()
    write_casme2(root, rows=(Row(1, "EP01_01", 1, 4, 1, 2, 4, "12", "happiness"),))
    folder = root / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    for k in range(1, 5):
        Image.fromarray(np.roll(face, k - 1, axis=1)).save(folder / f"img{k}.jpg")
    return root


def test_a_damaged_finished_clip_is_prepared_again(faces, tmp_path, capsys):
    out = tmp_path / "prep"
    argv = ["prepare", "casme2", str(faces), str(out), "--size", "64", "--quiet"]
    assert main(argv) == 0
    frames = out / "casme2" / "sub01" / "EP01_01" / "frames"
    middle = frames / "000001.png"
    good = middle.read_bytes()
    middle.write_bytes(good[: len(good) // 3])  # a truncated middle frame
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "1 clips prepared" in said and "0 already done" in said
    with Image.open(middle) as im:
        im.load()  # decodes again
    assert middle.read_bytes() == good
    assert main(argv) == 0  # and a third run, with nothing damaged, skips it
    assert "1 already done" in capsys.readouterr().out


def test_catch_clips_of_two_studies_never_overwrite_each_other(work, tmp_path, monkeypatch):
    from sqlalchemy import select

    from db.migrate import migrated_sessions
    from db.models import Study, Video

    monkeypatch.chdir(tmp_path)
    shutil.copytree(work / "sets", tmp_path / "sets")
    made = []
    for name, db, seed in (
        ("catch test", "one.db", "1"),
        ("catch_test", "one.db", "2"),
        ("catch test", "two.db", "3"),
    ):
        rc = main(
            [*STUDY[:2], name, *METHODS, "--set", "FOMM:FOMM+EWP", "--catch", "2"]
            + ["--seed", seed, "--db", f"sqlite:///{db}"]
        )
        assert rc == 0
        made.append((name, db))
    seen = set()
    for name, db in made:
        with migrated_sessions(f"sqlite:///{db}")() as session:
            study = session.scalar(select(Study).where(Study.name == name))
            videos = session.scalars(
                select(Video).where(Video.study_id == study.id, Video.kind == "catch")
            ).all()
            assert len(videos) == 2 and study.media_dir not in seen
            seen.add(study.media_dir)
            for video in videos:  # each study's clips are still the ones it recorded
                assert Path(video.path).parent == Path(study.media_dir)
                assert sha256_file(video.path) == video.sha256
    assert len(seen) == 3


def test_megc_refuses_another_checkpoints_set_unless_replace(work, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(work)
    other = _checkpoint(tmp_path / "other.pt", seed=1)
    out = tmp_path / "set"
    argv = [*MEGC, "--data", P, "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.mp4")}
    assert len(first) == 2
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert {r["checkpoint_sha256"] for r in rows} == {sha256_file(work / CK)}
    assert main(argv) == 0  # the same checkpoint again: written in place
    capsys.readouterr()
    argv[2] = str(other)
    assert main(argv) == 2  # another checkpoint: refused, nothing touched
    err = capsys.readouterr().err
    assert "--replace" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.glob("*.mp4")} == first
    assert main([*argv, "--replace"]) == 0
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert {r["checkpoint_sha256"] for r in rows} == {sha256_file(other)}
    assert sorted(p.name for p in out.glob("*.mp4")) == sorted(first)
    assert {p.name: p.read_bytes() for p in out.glob("*.mp4")} != first


def test_output_helper_reuses_refuses_or_replaces(tmp_path):
    from fme.core.errors import ConfigError
    from fme.core.outputs import output_dir, output_file

    run = tmp_path / "run"
    assert output_dir(run) == run and not run.exists()  # nothing is made by the check
    run.mkdir()
    (run / "log.csv").write_text("step\n")
    assert output_dir(run, existing="reuse") == run
    with pytest.raises(ConfigError, match="already exists.*--replace"):
        output_dir(run, existing="refuse")
    assert output_dir(run, existing="refuse", replace=True) == run
    assert (run / "log.csv").read_text() == "step\n"  # checking never touches it
    with pytest.raises(ConfigError, match="must end in .mp4"):
        output_file(tmp_path / "video.avi", suffixes=(".mp4",))
    with pytest.raises(ConfigError, match="lies under the file"):
        output_file(run / "log.csv" / "x.mp4")


def test_option_types_accept_what_they_should():
    import argparse

    from fme.core import options

    assert [options.device_name(d) for d in ("auto", "CPU", "cuda", "cuda:1", "mps")] == [
        "auto",
        "cpu",
        "cuda",
        "cuda:1",
        "mps",
    ]
    assert options.int_list("10, 0,1") == [10, 0, 1]
    assert options.voting_rate("0.55") == 0.55 and options.probability("0.05") == 0.05
    assert options.frame_rate("29.97") == 29.97 and options.non_negative_int("0") == 0
    for bad in ("cuda:", "gpu", "cuda1", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            options.device_name(bad)
    parsed = main(["study", "power", "--effect", "0.6", "--pairs", "18", "--pair-sd", "0"])
    assert parsed == 0  # good values still go through


# ---- the third audit: inputs read as their format says, options that cannot work --------


def _upstream_variant(src: Path, dst: Path, change) -> Path:
    """A copy of a reference checkpoint with `change(state)` applied."""
    import torch

    state = torch.load(src, map_location="cpu", weights_only=True)
    change(state)
    torch.save(state, dst)
    return dst


@pytest.fixture(scope="module")
def work3(work):
    """`work` plus the files of the third audit's cases (in `work/a3`)."""
    import torch

    up = Path(__file__).resolve().parents[1] / "data" / "upstream"
    a3 = work / "a3"
    (a3 / "yaml").mkdir(parents=True)
    (a3 / "ckpt").mkdir()

    def generator_tensor(state):
        state["generator"] = torch.zeros(3)

    def nan_generator(state):
        for tensor in state["generator"].values():
            if tensor.is_floating_point():
                tensor.fill_(float("nan"))

    def mixed_families(state):
        state["region_predictor"] = {"down_blocks.0.conv.weight": torch.zeros(1)}

    fomm = up / "fomm" / "checkpoint.pth.tar"
    _upstream_variant(fomm, a3 / "ckpt" / "mixed.pth.tar", mixed_families)
    _upstream_variant(fomm, a3 / "ckpt" / "gen_tensor.pth.tar", generator_tensor)
    _upstream_variant(fomm, a3 / "ckpt" / "nan.pth.tar", nan_generator)
    shutil.copy(up / "fomm" / "config.yaml", a3 / "yaml" / "ref_fomm.yaml")
    reference = (up / "fomm" / "config.yaml").read_text()
    (a3 / "yaml" / "ref_model_null.yaml").write_text(
        reference.split("model_params:")[0] + "model_params: null\n"
    )
    gen_list = reference.replace("generator_params:", "generator_params: [1, 2]\n  unused_x:")
    (a3 / "yaml" / "ref_generator_list.yaml").write_text(gen_list)
    yamls = {
        "empty.yaml": "",
        "train_lr_word.yaml": "train:\n  lr: fast\n",
        "train_betas_scalar.yaml": "train:\n  betas: 0.9\n",
        "train_batch_str.yaml": "train:\n  batch_size: many\n",
        "model_numkp_str.yaml": "model:\n  common:\n    num_kp: ten\n",
        "model_numkp_0.yaml": "model:\n  common:\n    num_kp: 0\n",
        "model_width_neg.yaml": "model:\n  kp_detector:\n    temperature: -0.1\n",
        "avd_str.yaml": "avd:\n  lr: fast\n",
        "model_section_null.yaml": "model:\n  kp_detector: null\n",
        "vgg_missing.yaml": "model:\n  loss:\n    vgg_weights: nope/vgg19.pth\n",
        "famgan_sr_missing.yaml": "model:\n  super_resolution:\n    weights: nope/RealESRGAN.pth\n",
        "latin1.yaml": None,
    }
    for name, text in yamls.items():
        if text is not None:
            (a3 / "yaml" / name).write_text(text)
    (a3 / "yaml" / "latin1.yaml").write_bytes(
        "train:\n  # réglage\n  lr: 0.001\n".encode("latin-1")
    )
    (a3 / "consent_binary.md").write_bytes(b"\xf8\x00\x01\x02consent")
    (a3 / "consent_latin1.md").write_bytes("Je consens à participer.\n".encode("latin-1"))
    (a3 / "drivers_latin1.txt").write_bytes("casme2/sub01/EP01_01 # clé\n".encode("latin-1"))
    header = "frame, timestamp, confidence, success, " + ", ".join(f"x_{i}" for i in range(68))
    (a3 / "drivers.csv").write_text(header + "\n" + ",".join("0" * 72) + "\n")
    (a3 / "votes_dir").mkdir()
    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.models import build_model

    save_checkpoint(a3 / "ckpt" / "mraa.pt", build_model("mraa", small_model_config("mraa")), 0)
    famgan_cfg = small_model_config("famgan")
    famgan_cfg["super_resolution"]["weights"] = "nope/RealESRGAN_x4plus.pth"
    save_checkpoint(a3 / "ckpt" / "famgan_sr.pt", build_model("famgan", famgan_cfg), 0)
    nan_clip = shutil.copytree(work / D, a3 / "nan_clip")
    with np.load(nan_clip / "landmarks.npz") as data:
        arrays = dict(data)
    arrays["landmarks"] = np.full_like(arrays["landmarks"], np.nan)
    np.savez(nan_clip / "landmarks.npz", **arrays)
    one_clip = shutil.copytree(work / D, a3 / "one_frame_clip")
    for frame in sorted((one_clip / "frames").iterdir())[1:]:
        frame.unlink()
    with np.load(one_clip / "landmarks.npz") as data:
        arrays = {k: (v[:1] if k == "landmarks" else v) for k, v in data.items()}
    np.savez(one_clip / "landmarks.npz", **arrays)
    return work


A3 = "a3"
IMP3 = ["import-checkpoint", "--out", "a3/x.pt"]
TRAIN3 = ["train", "--data", P, "--out", "a3/run", "--iterations", "1"]
AVD3 = [*TRAIN3, "--stage", "avd", "--resume-from", "a3/ckpt/mraa.pt"]
BENCH3 = ["bench", "generation", "--variants", "fomm", "--iterations", "1", "--work", "a3/bw"]

# (case id of the third audit, argv, text the one-line answer must name)
# fmt: off
CASES3: list[tuple[str, list[str], str]] = [
    # -- fme import-checkpoint
    ("i3_09_mixed_families", [*IMP3[:1], "a3/ckpt/mixed.pth.tar", *IMP3[1:], "--config", "a3/yaml/ref_fomm.yaml"], "more than one reference family"),
    ("i3_07_gen_tensor", [*IMP3[:1], "a3/ckpt/gen_tensor.pth.tar", *IMP3[1:], "--config", "a3/yaml/ref_fomm.yaml"], "'generator'"),
    ("i3_11_nan_weights", [*IMP3[:1], "a3/ckpt/nan.pth.tar", *IMP3[1:], "--config", "a3/yaml/ref_fomm.yaml"], "NaN"),
    ("i3_15_cfg_empty", [*IMP3[:1], "a3/ckpt/nan.pth.tar", *IMP3[1:], "--config", "a3/yaml/empty.yaml"], "empty"),
    ("i3_20_cfg_model_null", [*IMP3[:1], "a3/ckpt/nan.pth.tar", *IMP3[1:], "--config", "a3/yaml/ref_model_null.yaml"], "model_params"),
    ("i3_21_cfg_gen_list", [*IMP3[:1], "a3/ckpt/nan.pth.tar", *IMP3[1:], "--config", "a3/yaml/ref_generator_list.yaml"], "generator_params"),
    ("i3_30_out_suffix_yaml", ["import-checkpoint", "a3/ckpt/nan.pth.tar", "--out", "a3/model.yaml"], "--out"),
    ("i3_cfg_latin1", [*IMP3[:1], "a3/ckpt/nan.pth.tar", *IMP3[1:], "--config", "a3/yaml/latin1.yaml"], "UTF-8"),
    # -- fme train
    ("t3_07_avd_cfg_str", [*AVD3, "--config", "a3/yaml/avd_str.yaml"], "avd.lr"),
    ("t3_08_avd_with_variant", [*AVD3, "--variant", "fomm"], "--variant"),
    ("t3_10_resume_from_without_avd", [*TRAIN3, "--variant", "fomm", "--resume-from", CK], "--resume-from"),
    ("t3_17_tpsmm_avd_no_init", [*TRAIN3, "--variant", "tpsmm", "--config", "tpsmm-avd-64"], "--init"),
    ("t3_21_famgan_sr_missing", [*TRAIN3, "--variant", "famgan", "--config", "a3/yaml/famgan_sr_missing.yaml"], "super_resolution"),
    ("t3_25_cfg_lr_word", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/train_lr_word.yaml"], "train.lr"),
    ("t3_26_cfg_betas_scalar", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/train_betas_scalar.yaml"], "train.betas"),
    ("t3_27_cfg_batch_str", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/train_batch_str.yaml"], "train.batch_size"),
    ("t3_28_cfg_numkp_str", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/model_numkp_str.yaml"], "model.common.num_kp"),
    ("t3_cfg_numkp_0", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/model_numkp_0.yaml"], "model.common.num_kp"),
    ("t3_cfg_negative", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/model_width_neg.yaml"], "model.kp_detector.temperature"),
    ("t3_36_out_is_data_folder", ["train", "--variant", "fomm", "--data", P, "--out", P, "--iterations", "1"], "--out"),
    # -- fme animate
    ("a3_32_out_no_suffix", [*ANIMATE, "--out", "a3/result"], "--out"),
    ("a3_out_gif", [*ANIMATE, "--out", "a3/o.gif"], ".mp4"),
    ("a3_fps_huge", [*ANIMATE, "--out", "a3/o.mp4", "--fps", "1000000"], "--fps"),
    ("a3_26_driving_nan_landmarks", [*ANIMATE[:-1], "a3/nan_clip", "--out", "a3/o.mp4"], "NaN"),
    ("a3_30_onset_beyond_video", [*ANIMATE, "--out", "a3/o.mp4", "--onset", "500"], "--onset"),
    # -- fme megc
    ("m3_drivers_latin1", [*MEGC[:-1], "a3/drivers_latin1.txt", "--data", P, "--out", "a3/set"], "UTF-8"),
    ("m3_11_out_is_templates", [*MEGC, "--data", P, "--out", "megc/tpl_good"], "--templates"),
    ("m3_12_fps_1e6", [*MEGC, "--data", P, "--out", "a3/set", "--fps", "1e6"], "--fps"),
    ("m3_13_drivers_openface_csv", [*MEGC[:-1], "a3/drivers.csv", "--data", P, "--out", "a3/set"], "not found"),
    # -- fme study
    ("s3_25_consent_binary", [*STUDY[:2], "c3", *STUDY[3:], "--consent", "a3/consent_binary.md", "--db", DB], "consent"),
    ("s3_consent_latin1", ["study", "configure", "ok", "--consent", "a3/consent_latin1.md", "--db", DB], "UTF-8"),
    ("s3_target_huge", ["study", "configure", "ok", "--target", "10000000000", "--db", DB], "--target"),
    ("r3_votes_dir", [*REPORT[:2], "--votes", "a3/votes_dir", "--out", "a3/rep"], "folder"),
    ("r3_votes_and_name", [*REPORT[:2], "ok", "--votes", "csv/votes_good.csv", "--out", "a3/rep", "--db", DB], "not both"),
    ("e3_expert_table_both", ["expert-table", "--ratings", "csv/ratings_incomplete.csv", "--study", "ok", "--db", DB, "--out", "a3/exp", "--no-png"], "not both"),
    ("e3_expert_table_no_ratings", ["expert-table", "--study", "ok", "--db", DB, "--out", "a3/exp", "--no-png"], "study 'ok'"),
    ("w3_simulate_huge", [*POWER, "--effect", "0.6", "--simulate", "1000000000"], "--simulate"),
    ("w3_pairs_huge", [*POWER, "--effect", "0.6", "--pairs", "100000000"], "--pairs"),
    # -- fme eval
    ("x3_08_size_4", [*REC[:-1], "4", "--frames", "4"], "--size"),
    ("x3_09_frames_1", [*REC, "--frames", "1"], "--frames"),
    ("x3_10_backbones_dup", [*REC, "--backbones", "r3d_18,r3d_18"], "twice"),
    ("x3_auto_out_is_recognizers", ["eval", "auto", "--recognizers", "rec", "--set", "FOMM=sets/fomm", "--out", "rec"], "--recognizers"),
    # -- fme bench generation: every option checked before the corpus is made
    ("b3_03_changes_not_yaml", [*BENCH3, "--model-changes", "prior: [unclosed"], "--model-changes"),
    ("b3_04_changes_list", [*BENCH3, "--model-changes", "[1, 2]"], "--model-changes"),
    ("b3_05_changes_type", [*BENCH3, "--model-changes", "{common: {num_kp: ten}}"], "model.common.num_kp"),
    ("b3_09_milestones_text", [*BENCH3, "--milestones", "half"], "--milestones"),
    # -- fme animate / fme megc: the checkpoint's own super-resolution file, read before a frame
    ("a3_39_ckpt_cfg_sr_missing", ["animate", "--checkpoint", "a3/ckpt/famgan_sr.pt", *ANIMATE[3:], "--out", "a3/o.mp4"], "--super-resolution none"),
    ("a3_39_megc_ckpt_cfg_sr_missing", ["megc", "--checkpoint", "a3/ckpt/famgan_sr.pt", *MEGC[3:], "--out", "a3/set"], "model.super_resolution.weights"),
    ("a3_19_driving_one_frame", ["animate", "--checkpoint", CK, "--target", "img/face.png", "--driving", "a3/one_frame_clip", "--out", "a3/o.mp4"], "a3/one_frame_clip"),
    ("t3_vgg_option_missing", [*TRAIN3, "--variant", "fomm", "--vgg-weights", "a3/nope_vgg19.pth"], "--vgg-weights"),
    ("t3_vgg_config_missing", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/vgg_missing.yaml"], "vgg_weights"),
    ("t3_30_cfg_section_null", [*TRAIN3, "--variant", "fomm", "--config", "a3/yaml/model_section_null.yaml"], "model_section_null.yaml"),
    ("b3_magnify_text", [*BENCH3, "--magnify", "2,four"], "--magnify"),
    ("b3_magnify_zero", [*BENCH3, "--magnify", "0"], "--magnify"),
]
# fmt: on


def _command(argv: list[str]) -> str:
    return " ".join(argv[:2]) if argv[0] in ("eval", "study", "bench") else argv[0]


@pytest.mark.parametrize(("case", "argv", "named"), CASES3, ids=[c[0] for c in CASES3])
def test_a_bad_input_of_the_third_audit_is_one_line(case, argv, named, work3, monkeypatch, capsys):
    monkeypatch.chdir(work3)
    monkeypatch.delenv("FME_DATABASE_URL", raising=False)
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "WARNING" not in line]
    assert rc == 2, f"{case}: exit {rc}\n{err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert named in err, err
    assert not (work3 / A3 / "x.pt").exists() and not (work3 / A3 / "run").exists()
    assert not (work3 / A3 / "set").exists() and not (work3 / A3 / "bw").exists()
    assert not (work3 / A3 / "o.mp4").exists() and not (work3 / A3 / "rep").exists()


def test_the_bad_input_tables_count_what_they_cover_per_command(capsys):
    """The cases per command (both audits' tables), printed; every command has some."""
    from collections import Counter

    counts = Counter(_command(argv) for _, argv, _ in [*CASES, *CASES3])
    with capsys.disabled():
        print("\nbad-input cases per command:")
        for command, n in sorted(counts.items()):
            print(f"  {command:<28} {n}")
    for command in ("import-checkpoint", "train", "animate", "megc", "prepare", "demo"):
        assert counts[command] >= 1, command
    for command in ("study create", "study report", "study power", "eval auto", "bench generation"):
        assert counts[command] >= 1, command
    assert len(CASES3) >= 40 and len({c[0] for c in CASES3}) == len(CASES3)


def test_numbers_yaml_reads_as_text_and_a_bom_are_taken(work3, tmp_path):
    """`lr: 1e-3` (YAML 1.1 reads it as text) is the number; a driver list with a BOM
    (Windows Notepad) names the clip; an EXIF-rotated photo is turned upright."""
    from generation.animation.megc import read_driver_list
    from generation.config import load_run_config
    from generation.data.video import read_image

    cfg = tmp_path / "lr.yaml"
    cfg.write_text("train:\n  lr: 1e-3\n  betas: ['0.9', 0.99]\n")
    run = load_run_config("fomm", str(cfg))
    assert run.train.lr == 1e-3 and run.train.betas == (0.9, 0.99)
    drivers = tmp_path / "bom.txt"
    drivers.write_bytes("\ufeffcasme2/sub01/EP01_01\r\n".encode())
    assert [d.text for d in read_driver_list(drivers)] == ["casme2/sub01/EP01_01"]
    face = Image.fromarray(astronaut())
    exif = face.getexif()
    exif[0x0112] = 6  # stored turned; shown rotated 90 degrees clockwise
    turned = face.rotate(90, expand=True)  # what a phone stores for orientation 6
    turned.save(tmp_path / "exif6.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "exif6.jpg")
    assert upright.shape == astronaut().shape
    assert np.abs(upright.astype(int) - astronaut().astype(int)).mean() < 8


def test_a_rotated_phone_video_is_read_upright(tmp_path):
    import av

    from generation.data.video import read_video

    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :8] = 255  # a white bar on the left of the stored frame
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(-90)  # a phone held upright: shown turned clockwise
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    clip = read_video(path)
    assert clip.shape == (3, 64, 32, 3)  # portrait, as a player shows it
    assert clip[0, :8, :, 0].mean() > 200 and clip[0, -8:, :, 0].mean() < 60  # bar on top
