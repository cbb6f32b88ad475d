"""dlib face detection and landmarks on the real face photo that scikit-image ships."""

from __future__ import annotations

import numpy as np
from skimage import data

from generation.face.detect import crop_box, detect_faces, inter_ocular, landmarks68, model_path


def test_model_files_are_found():
    assert model_path("shape_predictor_68_face_landmarks.dat").stat().st_size > 50_000_000


def test_astronaut_face_and_landmarks():
    image = data.astronaut()
    boxes = detect_faces(image)
    assert len(boxes) == 1
    left, top, right, bottom = boxes[0]
    assert 150 < left < 210 and 60 < top < 110 and right - left > 60
    lm = landmarks68(image, boxes[0])
    assert lm.shape == (68, 2)
    # anatomy: brows above eyes above nose tip above mouth; left eye left of right eye
    brows, eyes = lm[17:27, 1].mean(), lm[36:48, 1].mean()
    assert brows < eyes < lm[33, 1] < lm[48:68, 1].mean()
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()
    assert 25 < float(inter_ocular(lm)) < 60


def test_crop_box_is_square_with_margin_and_clamped():
    assert crop_box((100, 100, 200, 200), (480, 640), margin=0.25) == (75, 75, 225, 225)
    x0, y0, x1, y1 = crop_box((0, 10, 100, 110), (480, 640), margin=0.25)
    assert (x0, x1 - x0, y1 - y0) == (0, 150, 150)  # pushed inside, still square
    assert crop_box((0, 0, 400, 400), (300, 300), margin=0.5) == (0, 0, 300, 300)


def test_no_face_in_noise():
    rng = np.random.default_rng(0)
    assert detect_faces(rng.integers(0, 255, (120, 120), dtype=np.uint8)) == []
