"""CelebA's 40 binary attributes as 40 tasks (Liu et al. 2015), through tensorflow-datasets.

Standard train / validation / test splits. Images are centre-cropped to 178×178 and resized
to 64×64 (as in Kurin et al. 2022's multi-task benchmark), float32 in [0, 1]. Each example is
``((image, task), attribute)``: in ``train`` one task is drawn at random per example every epoch
(appendix B: "training on CelebA involves using 40 times fewer instances"); ``validation`` and
``test`` yield every (image, task) pair. :func:`load_attributes` gives (image, all 40 labels)
for per-task evaluation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from topdown_zoo.typing import Dataset, Tensor

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
    "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
    "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
)
SIZE = 64
SMOKE_EXAMPLES = 32
PREPROCESSING = {"source": "tfds:celeb_a", "crop": "centre 178×178", "resize": "bilinear 64×64", "range": [0.0, 1.0],
                 "shape": [SIZE, SIZE, 3], "tasks": list(ATTRIBUTES),
                 "inputs": "(image float32 (64, 64, 3), task int32 in 0..39)", "label": "attribute (0/1)"}


def _prep(example: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    import tensorflow as tf

    img = tf.image.convert_image_dtype(example["image"], tf.float32)
    h, w = tf.shape(img)[0], tf.shape(img)[1]
    side = tf.minimum(h, w)
    img = tf.image.crop_to_bounding_box(img, (h - side) // 2, (w - side) // 2, side, side)
    img = tf.image.resize(img, (SIZE, SIZE), method="bilinear")
    labels = tf.stack([tf.cast(example["attributes"][a], tf.int32) for a in ATTRIBUTES])
    return tf.ensure_shape(img, (SIZE, SIZE, 3)), labels


def load_attributes(split: str, smoke: bool = False, data_dir: str | Path | None = None, download: bool = True,
                    **_: Any) -> Dataset:
    """Unbatched ``(image, labels (40,))`` of a CelebA split."""
    import tensorflow as tf

    from topdown_zoo.data.tfds_benchmarks import _load

    ds = _load("celeb_a", split, data_dir=data_dir, download=download)
    if smoke:
        ds = ds.take(SMOKE_EXAMPLES)
    return ds.map(_prep, num_parallel_calls=tf.data.AUTOTUNE)


def load(split: str, smoke: bool = False, data_dir: str | Path | None = None, download: bool = True, seed: int = 0,
         **_: Any) -> Dataset:
    import tensorflow as tf

    ds = load_attributes(split, smoke=smoke, data_dir=data_dir, download=download)
    n = len(ATTRIBUTES)
    if split == "train":
        rand = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        return tf.data.Dataset.zip((ds, rand)).map(
            lambda xy, r: ((xy[0], tf.cast(r % n, tf.int32)), tf.gather(xy[1], tf.cast(r % n, tf.int32))))
    return ds.flat_map(lambda img, labels: tf.data.Dataset.from_tensor_slices(
        ((tf.repeat(img[None], n, axis=0), tf.range(n, dtype=tf.int32)), labels)))


DATASETS = {"celeba_attributes": load}
