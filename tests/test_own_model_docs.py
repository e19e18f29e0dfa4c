"""The Hugging Face example of docs/own_model.rst, run as written on a tiny ViT.

The model and its processor are built in code and saved to a folder; nothing
comes from a model hub.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def test_hugging_face_docs_example_runs_without_the_pil_fallback_message(tmp_path):
    # Without torchvision, transformers logs "`ViTImageProcessor` requires
    # torchvision (not installed); falling back to `ViTImageProcessorPil`" once
    # per process when that name is used. The documented example loads its
    # processor with AutoImageProcessor, which picks the PIL backend silently,
    # and the adapter never calls the processor. A fresh process, since the
    # message is logged once per process.
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32,
        id2label={0: "normal", 1: "abnormal"}, label2id={"normal": 0, "abnormal": 1},
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.ViTForImageClassification(config).save_pretrained(tmp_path)
    # transformers < 5 has one processor class, and no fallback message.
    pil = getattr(transformers, "ViTImageProcessorPil", None) or (
        transformers.ViTImageProcessor)
    pil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3,
        image_std=[0.5] * 3).save_pretrained(tmp_path)

    page = (Path(__file__).parents[1] / "docs" / "own_model.rst").read_text()
    (block,) = [b for b in re.findall(r"\.\. code-block:: python\n((?:\n|[ \t]+.*\n)+)", page)
                if "image_processor=processor" in b]
    example = "\n".join(line[3:] for line in block.splitlines())
    code = (
        example.replace("path/to/fine-tuned-vit", str(tmp_path))
        + "\nfrom sklearn_depict import make_shapes_dataset\n"
        "print(clf.classes_.tolist(), clf.predict_proba("
        "make_shapes_dataset(3, random_state=0).images).shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['abnormal', 'normal'] (3, 2)"
    assert "falling back" not in done.stderr, done.stderr
