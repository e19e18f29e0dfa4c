"""Caption rules of ConceptCaptioner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from sklearn_depict import ConceptCaptioner
from sklearn_depict.concepts import check_concept_table, infer_column_kinds


def test_binary_columns_contribute_their_name_in_column_order():
    table = pd.DataFrame({"dog": [1, 0, 1, 0], "cat": [1, 1, 0, 0]})
    assert ConceptCaptioner().captions(table) == ["dog, cat", "cat", "dog", ""]


def test_boolean_columns_are_binary():
    table = pd.DataFrame({"dog": [True, False], "cat": [False, True]})
    assert ConceptCaptioner().captions(table) == ["dog", "cat"]


def test_count_columns_contribute_count_and_name():
    table = pd.DataFrame({"person": [2, 0, 1], "couch": [0, 3, 1]})
    assert ConceptCaptioner().captions(table) == ["2 person", "3 couch", "1 person, 1 couch"]


def test_float_counts_are_formatted_compactly():
    table = pd.DataFrame({"apple": [2.0, 0.5, 0.0]})
    assert ConceptCaptioner().captions(table) == ["2 apple", "0.5 apple", ""]


def test_kinds_override_pins_a_count_column_with_only_zero_and_one():
    table = pd.DataFrame({"person": [1, 0]})
    assert ConceptCaptioner().captions(table) == ["person", ""]
    assert ConceptCaptioner(kinds={"person": "count"}).captions(table) == ["1 person", ""]


def test_text_columns_contribute_non_empty_phrases():
    table = pd.DataFrame({"object": ["a red ball", "", None], "place": ["park", " ", "beach"]})
    assert ConceptCaptioner().captions(table) == ["a red ball, park", "", "beach"]


def test_template_prefix_suffix():
    table = pd.DataFrame({"object": ["cat", "dog"], "background": ["grass", "sand"]})
    captioner = ConceptCaptioner("a photo of {object} on {background}", prefix="<", suffix=">")
    assert captioner.captions(table) == ["<a photo of cat on grass>", "<a photo of dog on sand>"]


def test_template_naming_a_missing_column_is_a_clear_error():
    table = pd.DataFrame({"object": ["cat"]})
    with pytest.raises(ValueError, match=r"names column\(s\) \['background'\]"):
        ConceptCaptioner("{object} on {background}").captions(table)


def test_template_with_positional_fields_is_rejected():
    with pytest.raises(ValueError, match="positional"):
        ConceptCaptioner("{} on {}").captions(pd.DataFrame({"a": ["x"]}))


def test_context_columns_come_after_concepts():
    table = pd.DataFrame({"report": ["opacity in left lung", ""], "sex": [1, 0], "age": [0, 1]})
    captioner = ConceptCaptioner(context=["report"])
    assert captioner.captions(table) == ["sex, opacity in left lung", "age"]


def test_missing_context_column_is_a_clear_error():
    with pytest.raises(ValueError, match=r"context column\(s\) \['report'\]"):
        ConceptCaptioner(context=["report"]).captions(pd.DataFrame({"sex": [1]}))


def test_separator_and_empty_word():
    table = pd.DataFrame({"a": [1, 0], "b": [1, 0]})
    captioner = ConceptCaptioner(separator=" and ", empty="nothing")
    assert captioner.captions(table) == ["a and b", "nothing"]


def test_non_string_column_names_are_captioned_as_text():
    table = pd.DataFrame({0: [1, 0], "b": [1, 1]})
    assert ConceptCaptioner().captions(table) == ["0, b", "b"]


def test_unicode_captions_pass_through():
    table = pd.DataFrame({"tumör": [1], "läsion": [0], "note": ["größer als 2 cm ✓"]})
    assert ConceptCaptioner().captions(table) == ["tumör, größer als 2 cm ✓"]


def test_transform_is_a_stateless_sklearn_transformer():
    table = pd.DataFrame({"dog": [1, 0]})
    captioner = ConceptCaptioner()
    np.testing.assert_array_equal(captioner.transform(table), ["dog", ""])
    np.testing.assert_array_equal(captioner.fit_transform(table), ["dog", ""])
    assert clone(captioner).get_params() == captioner.get_params()


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="Unknown column kind"):
        infer_column_kinds(pd.DataFrame({"a": [1]}), {"a": "colour"})


def test_numeric_array_needs_concept_names():
    with pytest.raises(ValueError, match="needs concept names"):
        check_concept_table(np.array([[1, 0]]))
    table = check_concept_table(np.array([[1, 0]]), concept_names=["cat", "dog"])
    assert ConceptCaptioner().captions(table) == ["cat"]
