"""LivePortrait's implicit-keypoint motion, as the reference computes it.

* Head pose: each of pitch, yaw, roll is 66 bin logits; degrees = sum(softmax(bins) * i) * 3
  - 97.5 over bins i = 0..65 (`headpose_degrees`).
* `rotation_matrix(pitch, yaw, roll)` (degrees): R = (Rz(roll) Ry(yaw) Rx(pitch))^T, used as
  row vectors times R (`kp @ R`).
* `transform_keypoints`: x = scale * (x_c @ R + exp) + (tx, ty, 0): the canonical keypoints
  x_c (B, 21, 3) rotated, deformed by the expression, scaled, shifted in x and y only.
* `relative_keypoints`: the driving keypoints of the reference's relative rule for a source
  image and a driving video, frame i against the driving onset frame 0:
  R = R_d_i R_d_0^T R_s, exp = x_s,exp + (x_d_i,exp - x_d_0,exp), scale = s_s (s_d_i / s_d_0),
  t = t_s + (t_d_i - t_d_0) with tz = 0; then x_d_i = scale (x_c,s R + exp) + t. The
  `region` keeps part of it: "exp" (expression only), "pose" (rotation and translation only),
  "lip" / "eyes" (the expression of the lip keypoints 6, 12, 14, 17, 19, 20 / the eye
  keypoints 11, 13, 15, 16, 18 only), "all". Without `relative` the driving frame's own
  rotation, translation and the expression of the reference's keypoint subset are taken.
* "expression-friendly" (the reference CLI's default): x_d_i = x_s + (x_d_i - x_d_0) * m with
  m = sqrt(V(x_s)) / sqrt(V(x_d_0)), V the volume of the 3-D convex hull; for an image source
  x_d_0 = x_s, so m = 1.
* then stitching (see `LivePortraitModel.stitch`), then x_d_i = x_s + (x_d_i - x_s) * multiplier
  (the reference's `driving_multiplier`).

`expression_scale` (ours, default 1) multiplies the expression delta (x_d_i,exp - x_d_0,exp):
the plain multiplier of `fme animate --motion-scale`, and 1/alpha after `--magnify alpha`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

REGIONS: tuple[str, ...] = ("all", "exp", "pose", "lip", "eyes")
LIP_KEYPOINTS: tuple[int, ...] = (6, 12, 14, 17, 19, 20)
EYE_KEYPOINTS: tuple[int, ...] = (11, 13, 15, 16, 18)
#: the expression keypoints the reference takes whole from a driving frame (absolute motion)
EXP_KEYPOINTS: tuple[int, ...] = (1, 2, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)


def headpose_degrees(bins: torch.Tensor) -> torch.Tensor:
    """(B,) degrees from (B, 66) bin logits (other shapes are returned as they are)."""
    if bins.ndim > 1 and bins.shape[1] == 66:
        idx = torch.arange(66, dtype=torch.float32, device=bins.device)
        return torch.sum(F.softmax(bins, dim=1) * idx, dim=1) * 3 - 97.5
    return bins


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) from angles in degrees ((B,) or (B, 1))."""
    x, y, z = (a / 180 * math.pi for a in (pitch, yaw, roll))
    x, y, z = (a.reshape(-1, 1) for a in (x, y, z))
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    b = x.shape[0]
    rot_x = torch.cat(
        [ones, zeros, zeros, zeros, torch.cos(x), -torch.sin(x), zeros, torch.sin(x), torch.cos(x)],
        dim=1,
    ).reshape(b, 3, 3)
    rot_y = torch.cat(
        [torch.cos(y), zeros, torch.sin(y), zeros, ones, zeros, -torch.sin(y), zeros, torch.cos(y)],
        dim=1,
    ).reshape(b, 3, 3)
    rot_z = torch.cat(
        [torch.cos(z), -torch.sin(z), zeros, torch.sin(z), torch.cos(z), zeros, zeros, zeros, ones],
        dim=1,
    ).reshape(b, 3, 3)
    return (rot_z @ rot_y @ rot_x).permute(0, 2, 1)


def keypoint_info(raw: dict) -> dict:
    """The motion extractor's raw outputs with the pose in degrees (B, 1) and `kp`, `exp`
    as (B, K, 3), plus the rotation `R` (B, 3, 3)."""
    b = raw["kp"].shape[0]
    info = {k: raw[k].float() for k in ("t", "scale")}
    for k in ("pitch", "yaw", "roll"):
        info[k] = headpose_degrees(raw[k].float())[:, None]
    info["kp"] = raw["kp"].float().reshape(b, -1, 3)
    info["exp"] = raw["exp"].float().reshape(b, -1, 3)
    info["R"] = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
    return info


def transform_keypoints(info: dict) -> torch.Tensor:
    """scale * (kp @ R + exp) + (tx, ty, 0), (B, K, 3)."""
    kp = info["kp"] @ info["R"] + info["exp"]
    kp = kp * info["scale"][..., None]
    return torch.cat([kp[..., :2] + info["t"][:, None, 0:2], kp[..., 2:]], dim=-1)


def hull_volume(points: np.ndarray) -> float:
    """Volume of the 3-D convex hull of (N, 3) points (scipy's Qhull, as the reference)."""
    from scipy.spatial import ConvexHull

    return float(ConvexHull(np.asarray(points, dtype=np.float32)).volume)


def motion_multiplier(x_s: torch.Tensor, x_d_0: torch.Tensor) -> float:
    """sqrt(V(x_s)) / sqrt(V(x_d_0)) of (1, K, 3) keypoints (the reference's
    `calc_motion_multiplier`)."""
    vs = hull_volume(x_s[0].detach().float().cpu().numpy())
    v0 = hull_volume(x_d_0[0].detach().float().cpu().numpy())
    return float(np.sqrt(vs) / np.sqrt(v0))


def relative_keypoints(
    source: dict,
    driving: dict,
    initial: dict,
    region: str = "all",
    relative: bool = True,
    expression_scale: float = 1.0,
) -> torch.Tensor:
    """The driving keypoints (B, K, 3) of the rule in the module docstring, before the
    expression-friendly step and stitching. `source`, `initial`: keypoint_info of one frame;
    `driving`: of B frames."""
    b = driving["kp"].shape[0]

    def rep(t):
        return t.expand(b, *t.shape[1:])

    exp_s, r_s = rep(source["exp"]), rep(source["R"])
    delta = exp_s.clone()
    if relative:
        moved = exp_s + (driving["exp"] - rep(initial["exp"])) * expression_scale
        pose = region in ("all", "pose")
        rot = (driving["R"] @ rep(initial["R"]).permute(0, 2, 1)) @ r_s if pose else r_s
        if region in ("all", "exp"):
            delta = moved
        elif region in ("lip", "eyes"):
            idx = list(LIP_KEYPOINTS if region == "lip" else EYE_KEYPOINTS)
            delta[:, idx, :] = moved[:, idx, :]
        scale = rep(source["scale"])
        if region == "all":
            scale = scale * (driving["scale"] / rep(initial["scale"]))
        t = rep(source["t"]) + (driving["t"] - rep(initial["t"])) if pose else rep(source["t"])
    else:
        d_exp = driving["exp"]
        if expression_scale != 1.0:
            d_exp = exp_s + (d_exp - exp_s) * expression_scale
        rot = driving["R"] if region in ("all", "pose") else r_s
        if region in ("all", "exp"):
            idx = list(EXP_KEYPOINTS)
            delta[:, idx, :] = d_exp[:, idx, :]
            delta[:, 3:5, 1] = d_exp[:, 3:5, 1]
            delta[:, 5, 2] = d_exp[:, 5, 2]
            delta[:, 8, 2] = d_exp[:, 8, 2]
            delta[:, 9, 1:] = d_exp[:, 9, 1:]
        elif region in ("lip", "eyes"):
            idx = list(LIP_KEYPOINTS if region == "lip" else EYE_KEYPOINTS)
            delta[:, idx, :] = d_exp[:, idx, :]
        scale = rep(source["scale"])
        t = driving["t"] if region in ("all", "pose") else rep(source["t"])
    t = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:])], dim=1)
    kp_c = rep(source["kp"])
    return scale[:, :, None] * (kp_c @ rot + delta) + t[:, None, :]
