"""`fme bench au`: the landmark AU estimator against the synthetic corpus's true intensities.

Writes a synthetic corpus, tracks every clip's landmarks as `fme prepare` does (dlib on the
onset frame, then Lucas-Kanade: `generation.face.tracking`), splits the subjects into folds
(cross-validation by subject: `generation.au.training.cross_validate`), fits the per-AU
ridge mapping on the other folds' tracked landmarks and prints, per AU, Pearson's r
between the estimated and the true intensity over every frame of every held-out clip,
from the tracker's landmarks (what the estimator sees in use) and, with the same models,
from the exact landmarks (no tracking noise). `--save PATH` writes the model fitted on
every subject (the package's `generation/au/landmark_model.json` is written this way);
`--out DIR` writes the table as CSV, Markdown and LaTeX.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from fme.core.outputs import write_csv_atomic, write_text_atomic

#: Why a row's figure means less than it seems, or why it is missing.
NOTES: dict[str, str] = {
    "AU01": "always with AU02 in the corpus (surprise)",
    "AU02": "always with AU01 in the corpus (surprise)",
    "AU09": "landmarks see only the nose/lip raise, not the wrinkles",
    "AU20": "not in the synthetic library: not estimated (0)",
    "AU23": "not in the synthetic library: not estimated (0)",
    "AU45": "not in the synthetic library: not estimated (0)",
}


def au_table(cv: dict, aus: tuple[str, ...]):
    """The per-AU table from `cross_validate`'s pooled held-out predictions."""
    import pandas as pd

    from generation.au import AU_NAMES
    from generation.au.features import AU_REGIONS
    from generation.au.training import pearson

    pred_t, truth = cv["tracked"]
    pred_e, _ = cv["exact"]
    active = (truth > 0.05).sum(0)
    rows = []
    for k, au in enumerate(AU_NAMES):
        fitted = au in aus
        rows.append(
            {
                "AU": au,
                "landmarks in region": len(AU_REGIONS[au]),
                "frames with the AU": int(active[k]),
                "held-out r (tracked landmarks)": pearson(pred_t[:, k], truth[:, k])
                if fitted
                else float("nan"),
                "held-out r (exact landmarks)": pearson(pred_e[:, k], truth[:, k])
                if fitted
                else float("nan"),
                "held-out MAE (tracked)": float(np.abs(pred_t[:, k] - truth[:, k]).mean())
                if fitted
                else float("nan"),
                "note": NOTES.get(au, ""),
            }
        )
    return pd.DataFrame(rows)


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fme bench au", description=__doc__.split("\n")[0])
    p.add_argument("--subjects", type=int, default=16)
    p.add_argument("--clips-per-subject", type=int, default=8)
    p.add_argument("--frame-size", type=int, default=128, help="side of the synthetic frames")
    p.add_argument("--fps", type=float, default=100.0)
    p.add_argument("--folds", type=int, default=4, help="subject folds of the cross-validation")
    p.add_argument("--ridge", type=float, default=1e-2, help="relative ridge penalty")
    p.add_argument("--save", default=None, metavar="PATH", help="write the fitted model (json)")
    p.add_argument("--out", default=None, help="write au_bench.csv/.md/.tex here")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from fme.bench.common import markdown
    from generation.au.training import corpus_samples, cross_validate, fit, synthetic_aus
    from generation.synth.aus import AU_NAMES as SYNTH_AUS
    from generation.synth.corpus import SynthConfig, write_corpus

    config = SynthConfig(
        args.subjects, args.clips_per_subject, args.seed, size=args.frame_size, fps=args.fps
    )
    with tempfile.TemporaryDirectory(prefix="fme-bench-au-") as tmp:
        write_corpus(tmp, config, progress=True)
        samples = corpus_samples(tmp, track=True, progress=True)
    aus = synthetic_aus(SYNTH_AUS)
    cv = cross_validate(samples, aus, args.folds, args.ridge, args.seed)
    table = au_table(cv, aus)
    scored = table[table["AU"].isin(aus)].set_index("AU")["held-out r (tracked landmarks)"]
    mean_r = float(np.nanmean(scored))
    meta = {
        "fitted_by": "fme bench au " + " ".join(argv),
        "corpus": {
            "subjects": args.subjects,
            "clips_per_subject": args.clips_per_subject,
            "frame_size": args.frame_size,
            "fps": args.fps,
            "seed": args.seed,
        },
        "landmarks": "tracked (generation.face.tracking.track_clip)",
        "training_subjects": sorted({s.subject for s in samples}),
        "cross_validated_r": {a: round(float(r), 4) for a, r in scored.items()},
        "cross_validated_mean_r": round(mean_r, 4),
    }
    model = fit(samples, aus, "tracked", args.ridge, meta)  # the shipped model: every subject
    n_frames = sum(s.truth.n_frames for s in samples)
    print(
        f"\n{len(samples)} synthetic clips ({n_frames} frames) of {args.subjects} subjects at "
        f"{args.frame_size} px, {args.fps:g} fps; {args.folds}-fold cross-validation by "
        "subject: each subject's clips scored by the model fitted on the other subjects' "
        "tracked landmarks\n"
    )
    print(markdown(table, digits=3))
    print(f"\nmean held-out r over the {len(aus)} AUs the library moves: {mean_r:.3f}")
    if args.save:
        path = model.save(args.save)
        print(f"model written to {path} ({path.stat().st_size} bytes)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(table, out / "au_bench.csv", index=False)
        write_text_atomic(out / "au_bench.md", markdown(table, digits=3) + "\n")
        write_text_atomic(out / "au_bench.tex", table.to_latex(index=False, float_format="%.3f"))
        write_text_atomic(out / "au_bench.json", json.dumps(model.meta, indent=1) + "\n")
    return 0
