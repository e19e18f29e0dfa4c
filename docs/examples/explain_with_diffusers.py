"""
Explaining a classifier with a diffusers pipeline, offline
==========================================================

This script runs DEPICT with a real ``diffusers`` text-to-image pipeline and
needs neither network nor a GPU. It

1. builds a tiny Stable Diffusion pipeline with random weights and saves it
   with ``save_pretrained``, as a fine-tuned checkpoint would be saved;
2. loads it lazily through ``DiffusersGenerator(folder, local_files_only=True)``;
3. trains a small classifier on generated images to detect "red circle";
4. ranks the concepts of a concept table with :func:`depict_importance`.

The random weights draw coloured noise rather than shapes, but the text still
steers the noise a little, so the classifier can pick up a "red circle" signal
and DEPICT ranks that concept first. Swap the folder for a real checkpoint
(a Hub id such as ``"stable-diffusion-v1-5/stable-diffusion-v1-5"`` or your
own fine-tuned folder) to explain a real model.

Run it with ``python docs/examples/explain_with_diffusers.py``.
"""

import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from sklearn_depict import CaptionToImage, depict_importance  # noqa: E402
from sklearn_depict.generators.diffusers import (  # noqa: E402
    DiffusersGenerator,
    make_tiny_pipeline,
)


def flatten(images):
    return images.reshape(len(images), -1)


def main():
    import torch

    torch.set_num_threads(1)  # steadier on small CPUs
    workdir = tempfile.mkdtemp(prefix="depict-diffusers-")

    # 1. A checkpoint on disk, as save_pretrained writes it.
    checkpoint = os.path.join(workdir, "tiny-sd")
    make_tiny_pipeline(seed=0).save_pretrained(checkpoint)

    # 2. The generator: nothing is loaded until the first image is needed.
    # Random weights barely listen to the prompt, so a large guidance scale
    # amplifies what the text changes; real models work at about 7.5.
    generator = DiffusersGenerator(
        checkpoint,
        num_inference_steps=4,
        guidance_scale=50.0,
        batch_size=8,
        local_files_only=True,
    )

    # 3. Concept tables: one row per image, one binary column per concept.
    concepts = ["red circle", "blue square", "green triangle"]
    rng = np.random.RandomState(0)
    train = pd.DataFrame(rng.randint(0, 2, (96, 3)), columns=concepts)
    train.index += 1_000  # other rows than the evaluation table, so other noise
    test = pd.DataFrame(rng.randint(0, 2, (32, 3)), columns=concepts)

    # A classifier on raw pixels that should detect "red circle".
    classifier = make_pipeline(FunctionTransformer(flatten), LogisticRegression(max_iter=2000))
    classifier.fit(CaptionToImage(generator).transform(train), train["red circle"])

    # 4. DEPICT. The cache keeps every image, keyed on the generator's
    # fingerprint: running this step again generates nothing.
    def explain():
        start = time.perf_counter()
        result = depict_importance(
            classifier,
            test,
            test["red circle"],
            generator=CaptionToImage(generator, cache=os.path.join(workdir, "cache")),
            scoring="roc_auc",
            n_repeats=10,
            random_state=0,
        )
        return result, time.perf_counter() - start

    result, elapsed = explain()

    print(f"baseline ROC AUC on generated images: {result.baseline_score:.3f}")
    print("concept ranking (mean drop in ROC AUC when the concept is permuted):")
    for rank, i in enumerate(np.argsort(-result.importances_mean), start=1):
        print(
            f"  {rank}. {result.concept_names[i]:<15} "
            f"{result.importances_mean[i]:+.3f} +/- {result.importances_std[i]:.3f}"
        )
    print(
        f"{result.n_images_generated} images generated (at most {result.n_images_bound}; "
        f"a literal run would make {result.n_images_naive}) in {elapsed:.1f} s"
    )

    again, elapsed = explain()
    assert np.array_equal(again.importances, result.importances)
    print(
        f"again, from the cache: {again.n_images_generated} generated, "
        f"{again.n_images_cached} read back, in {elapsed:.2f} s"
    )


if __name__ == "__main__":
    main()
