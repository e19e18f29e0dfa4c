"""
Explaining your own PyTorch model, from training to report
==========================================================

This script trains a small convolutional network on rendered shapes, wraps it
with :class:`sklearn_depict.TorchImageClassifier`, saves it, explains it with
:func:`sklearn_depict.depict_importance` and the paper's two checks, and
writes an HTML report. A last section trains the same network with skorch
instead, in a pipeline that pickles; it needs the ``skorch`` extra
(``pip install "sklearn-depict[skorch]"``) and is skipped, with a message,
without it. It runs in well under a minute on a laptop CPU and needs no
network.

Run it with ``python docs/examples/explain_own_model.py``; the report lands in
``own-model-report/report.html``.
"""

import joblib
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline

from sklearn_depict import (
    ChannelsFirst,
    ShapesGenerator,
    TorchImageClassifier,
    depict_diagnostics,
    depict_importance,
    make_shapes_dataset,
)
from sklearn_depict.reporting.report import write_report

CONCEPT = "red circle"  # what the model is trained to detect
torch.manual_seed(0)

# --- 1. A model trained the usual PyTorch way ---------------------------------------
train = make_shapes_dataset(400, random_state=0)  # images (n, 32, 32, 3) in [0, 1]
test = make_shapes_dataset(120, random_state=1)


def make_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 2),
    )  # fmt: skip


net = make_cnn()
x = torch.from_numpy(train.images).permute(0, 3, 1, 2)  # NCHW for training
x = (x - 0.5) / 0.5  # the normalisation the adapter repeats at prediction time
y = torch.as_tensor(train.concept_table[CONCEPT].to_numpy(copy=True))
optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
for _epoch in range(8):
    for batch in torch.randperm(len(x)).split(50):
        loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

# --- 2. Wrap it: one line replaces the glue ------------------------------------------
clf = TorchImageClassifier(net, classes=[0, 1], mean=0.5, std=0.5)
accuracy = (clf.predict(test.images) == test.concept_table[CONCEPT]).mean()
print(f"accuracy on real test images: {accuracy:.3f}")
joblib.dump(clf, "cnn.joblib")  # loads anywhere, also on a machine without a GPU

# --- 3. A concept detector from the same backbone, for the two checks ----------------
backbone = TorchImageClassifier(net, classes=[0, 1], mean=0.5, std=0.5, features="4")
detector = make_pipeline(backbone, MultiOutputClassifier(LogisticRegression(max_iter=2000)))
detector.fit(train.images, train.concept_table[[CONCEPT]])  # the backbone stays frozen

# --- 4. Explain, check, report --------------------------------------------------------
result = depict_diagnostics(
    clf, test.concept_table, test.concept_table[CONCEPT], generator=ShapesGenerator(),
    scoring="roc_auc", n_repeats=10, random_state=0,
    detector=detector, detector_concepts=[CONCEPT], X_images=test.images,
).result  # fmt: skip
for rank, k in enumerate(np.argsort(-result.importances_mean), start=1):
    print(f"{rank}. {result.concept_names[k]:<14} {result.importances_mean[k]:.3f}")
print("checks:", result.diagnostics["checks"])
paths = write_report(result, "own-model-report", generator=ShapesGenerator(),
                     metric_name="roc_auc", n_examples=0)
print(f"report: {paths.report_html}")

# --- 5. The same with skorch: a pipeline of importable steps -------------------------
try:
    from skorch import NeuralNetClassifier
except ImportError:  # skorch is optional: pip install "sklearn-depict[skorch]"
    print('Section 5 skipped: it needs skorch (pip install "sklearn-depict[skorch]").')
    raise SystemExit(0) from None

skorch_model = make_pipeline(
    ChannelsFirst(),  # (n, H, W, C) from the generator -> (n, C, H, W) for torch
    NeuralNetClassifier(
        make_cnn(), criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
        lr=1e-2, max_epochs=8, batch_size=50, train_split=None, verbose=0,
        iterator_train__shuffle=True,
    ),
)  # fmt: skip
# skorch wants int64 labels; its net learns classes_ from them.
skorch_model.fit(train.images, train.concept_table[CONCEPT].to_numpy().astype(np.int64))
joblib.dump(skorch_model, "skorch.joblib")  # no helper from __main__ inside
skorch_result = depict_importance(
    skorch_model, test.concept_table, test.concept_table[CONCEPT], generator=ShapesGenerator(),
    scoring="roc_auc", n_repeats=10, random_state=0,
)  # fmt: skip
top = skorch_result.concept_names[np.argmax(skorch_result.importances_mean)]
print(f"skorch model relies most on: {top}")
