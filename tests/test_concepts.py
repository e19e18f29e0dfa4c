"""The concept table is validated once into a ConceptTable, which every step reads.

``python tests/test_concepts.py`` prints the table's route through the
package during one ``depict_importance`` call, as docs/architecture.rst
describes it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from sklearn_depict import ConceptCaptioner, ShapesGenerator, depict_importance
from sklearn_depict._engine.plan import make_plan, resolve_concepts
from sklearn_depict.concepts import make_concept_table, row_seeds

sys.path.insert(0, str(Path(__file__).parent))
from test_import_graph import LAYERS, RANK, _unit  # noqa: E402

PACKAGE = "sklearn_depict"


# ------------------------------------------------------------------ the route


def concept_table_route(call: Any, table: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Where the concept table stays while ``call()`` runs.

    The table is wherever the innermost function of the package holding it
    runs: a frame holds it when one of its variables is the table, a frame of
    its rows (same columns, some cells permuted), or an object with the table
    among its attributes (two levels deep: a RunInputs holding a
    ConceptTable). Each change of module starts a new stay. Generated code
    (a dataclass's ``__init__``) only stores the table and does not count.

    Returns
    -------
    stays : list of (module, functions)
    """
    columns = list(table.columns)

    def holds(value: Any, depth: int = 2) -> bool:
        if value is table:
            return True
        if isinstance(value, pd.DataFrame):
            return list(value.columns) == columns
        if depth == 0 or isinstance(value, (pd.Series, np.ndarray, str, bytes, type)):
            return False
        attributes = getattr(value, "__dict__", None)
        return isinstance(attributes, dict) and any(
            holds(v, depth - 1) for v in list(attributes.values())
        )

    def location(frame: Any) -> tuple[str, str] | None:
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if (module.startswith(PACKAGE) and frame.f_code.co_filename != "<string>"
                    and any(holds(v) for v in list(frame.f_locals.values()))):
                return module, frame.f_code.co_name
            frame = frame.f_back
        return None

    stays: list[tuple[str, list[str]]] = []

    def record(where: tuple[str, str] | None) -> None:
        if where is None:
            return
        module, function = where
        if not stays or stays[-1][0] != module:
            stays.append((module, [function]))
        elif function not in stays[-1][1]:
            stays[-1][1].append(function)

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if not frame.f_globals.get("__name__", "").startswith(PACKAGE):
            return None
        record(location(frame))

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "return":
                record(location(frame.f_back))
            return local

        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return stays


def climbs(stays: list[tuple[str, list[str]]]) -> list[int]:
    """The stays (by position) that are in a higher layer than the stay before."""
    rank = [RANK[_unit(module)] for module, _ in stays]
    return [k for k in range(1, len(stays)) if rank[k] < rank[k - 1]]


def _example_run(shapes_test: Any) -> tuple[Any, pd.DataFrame]:
    table = shapes_test.concept_table.iloc[:30]
    y = table["red circle"].to_numpy()
    model = DummyClassifier(strategy="prior").fit(np.zeros((len(y), 32, 32, 3)), y)
    return (lambda: depict_importance(model, table, y, generator=ShapesGenerator(),
                                      n_repeats=2, random_state=0, n_bootstraps=5)), table


def test_the_table_goes_down_once_with_two_climbs(shapes_test):
    call, table = _example_run(shapes_test)
    stays = concept_table_route(call, table)
    modules = [module for module, _ in stays]
    assert modules[0] == modules[-1] == f"{PACKAGE}.importance"
    # Back up only twice before the result returns: from the table's
    # validation to the engine, and from the one captioning call to the plan.
    assert len(climbs(stays[:-1])) <= 2, stays
    # Captioned once, however many concepts are permuted.
    assert sum("captions" in functions for _, functions in stays) == 1
    # Scoring, intervals and the preflight never see it.
    layers = {list(LAYERS)[RANK[_unit(module)]] for module in modules}
    assert "Scoring and uncertainty" not in layers


# ------------------------------------------------------------ the ConceptTable


def test_the_concept_table_holds_what_is_derived_from_it():
    frame = pd.DataFrame({"cat": [0, 1, 1, 0], "person": [0, 3, 1, 3],
                          "note": ["", "a", "b", "a"]}, index=[10, 11, "x", 13])
    table = make_concept_table(frame, captioner=ConceptCaptioner(context=["note"]), seed=4)
    assert table.frame is frame
    assert table.columns == ("cat", "person", "note")
    assert dict(table.kinds) == {"cat": "binary", "person": "count", "note": "text"}
    assert table.context == ("note",)
    assert table.n_codes == (2, 3, 3) and table.n_rows == 4
    np.testing.assert_array_equal(table.codes[:, 1], [0, 1, 2, 1])
    assert table.identities == (10, 11, "x", 13)
    np.testing.assert_array_equal(table.seeds, row_seeds([10, 11, "x", 13], 4))


def test_the_concept_table_cannot_be_changed():
    table = make_concept_table(pd.DataFrame({"a": [0, 1]}), captioner=ConceptCaptioner())
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.seed = 1
    with pytest.raises(ValueError, match="read-only"):
        table.seeds[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        table.codes[0, 0] = 1
    with pytest.raises(TypeError):
        table.kinds["a"] = "count"


def test_pinned_kinds_and_fitted_columns():
    frame = pd.DataFrame({"a": [0, 1], "b": [1, 1]})
    pinned = make_concept_table(frame, captioner=ConceptCaptioner(), kinds={"a": "count",
                                                                           "b": "binary"})
    assert ConceptCaptioner().captions(pinned) == ["b", "1 a, b"]
    with pytest.raises(ValueError, match="columns differ"):
        make_concept_table(frame, captioner=ConceptCaptioner(), feature_names_in=["b", "a"])
    with pytest.raises(ValueError, match="fitted with 3"):
        make_concept_table(frame, captioner=ConceptCaptioner(),
                           feature_names_in=["a", "b", "c"])


class _CountingCaptioner(ConceptCaptioner):
    def captions(self, table, *, kinds=None):
        self.calls_ = getattr(self, "calls_", 0) + 1
        return super().captions(table, kinds=kinds)

    def check(self, table):
        self.checks_ = getattr(self, "checks_", 0) + 1
        return super().check(table)


def test_the_plan_captions_once_and_never_checks_the_table_again():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"a": rng.randint(0, 2, 20), "b": rng.randint(0, 3, 20),
                          "c": rng.choice(["", "x", "y"], 20)})
    captioner = _CountingCaptioner()
    table = make_concept_table(frame, captioner=captioner)
    assert captioner.checks_ == 1
    names, columns = resolve_concepts(table, {"a": ["a"], "b and c": ["b", "c"]})
    plan = make_plan(table, concept_names=names, concept_columns=columns,
                     captioner=captioner, n_repeats=3, n_scored=20, random_state=0)
    assert captioner.calls_ == 1 and captioner.checks_ == 1
    # Every pair is the caption of a row with a permuted concept's cells
    # taken from another row, at that row's seed.
    for j in range(len(plan.concept_columns)):
        for r in range(3):
            for i, pair in enumerate(plan.permuted_ids[j, r]):
                assert plan.seeds[pair] == table.seeds[plan.row_indices[i]]


def main() -> None:
    from sklearn_depict import make_shapes_dataset

    call, table = _example_run(make_shapes_dataset(120, random_state=1))
    stays = concept_table_route(call, table)
    up = set(climbs(stays))
    for k, (module, functions) in enumerate(stays, 1):
        layer = list(LAYERS)[RANK[_unit(module)]]
        mark = "  <- climb" if k - 1 in up else ""
        print(f"{k:2d}  {module} [{layer}]: {', '.join(functions)}{mark}")
    print(f"{len(stays)} stays in {len({m for m, _ in stays})} modules, {len(up)} climbs "
          "(the last is the result's return)")


if __name__ == "__main__":
    main()
