"""``denoising``: clean test images, the same with Gaussian noise N(0, σ = 0.1) added (clipped
to [0, 1], as the image evaluator's ``denoise_*`` metrics), and ``model.denoise(noisy)``, with
the PSNR of each (dB, [0, 255] scale, Conv-NGC appendix eq. 6), and for a model with
``denoise_clamp_first`` (Conv-NGC) a fourth row: the paper's protocol (clamped at step 1 only).
Models that list ``denoising`` in ``plot_kinds()`` have a ``denoise(x)`` method."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo import metrics_image as mi
from topdown_zoo.plots import figures as fg

COLUMNS = 6
NOISE_STD = 0.1


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path:
    images = fg.image_input(model, x)
    clean = images[fg.spread(COLUMNS, len(images))]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0.0, NOISE_STD, clean.shape), 0.0, 1.0).astype("float32")
    denoised = np.asarray(fg.to_numpy(model.denoise(noisy)), dtype="float32").reshape(clean.shape)
    rows = [("clean", clean), (f"noisy (σ = {NOISE_STD})", noisy), ("denoised", denoised)]
    if hasattr(model, "denoise_clamp_first"):
        paper = np.asarray(fg.to_numpy(model.denoise_clamp_first(noisy)), dtype="float32").reshape(clean.shape)
        rows[2] = ("denoised\n(clamped)", denoised)
        rows.append(("paper's protocol\n(clamp at t=1)", paper))
    fig = fg.figure(1.45 * len(clean) + 0.6, 1.65 * len(rows) + 0.05)
    axes = fig.subplots(len(rows), len(clean), squeeze=False)
    for c in range(len(clean)):
        fg.show(axes[0, c], fg.displayable(clean[c:c + 1])[0])
        for r, (_, version) in enumerate(rows[1:], start=1):
            psnr = mi.psnr_255(clean[c:c + 1], version[c:c + 1])
            fg.show(axes[r, c], fg.displayable(version[c:c + 1])[0], f"{psnr:.1f} dB", fontsize=7)
    for r, (name, _) in enumerate(rows):
        fg.row_label(axes[r, 0], name)
    total_noisy, total_denoised = mi.psnr_255(clean, noisy), mi.psnr_255(clean, denoised)
    extra = f"; paper's protocol {mi.psnr_255(clean, rows[3][1]):.1f} dB" if len(rows) > 3 else ""
    fig.suptitle(f"{fg.model_name(model)}: denoising (PSNR vs clean: noisy {total_noisy:.1f} dB → "
                 f"denoised {total_denoised:.1f} dB{extra})", fontsize=10)
    return fg.save(fig, path)
