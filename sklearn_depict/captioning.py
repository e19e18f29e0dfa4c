"""Turning rows of a concept table into captions."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .concepts import ConceptTable, check_concept_table, infer_column_kinds

__all__ = ["ConceptCaptioner"]


class ConceptCaptioner(TransformerMixin, BaseEstimator):
    """Build a caption from each row of a concept table.

    By default the present concepts are joined in column order:

    - a binary or boolean column contributes its column name when true;
    - a count column contributes ``"{count} {name}"`` when above 0;
    - a text column contributes its phrase when it is non-empty (missing
      values count as empty).

    Context columns, such as free report text, are appended after the concepts.
    They are captioned but :func:`~sklearn_depict.depict_importance` does not
    permute them by default.

    The captioner is stateless: :meth:`transform` works without :meth:`fit`.

    Parameters
    ----------
    template : str, default=None
        A :meth:`str.format` template that names columns, for example
        ``"a photo of {object} on {background}"``. When given, it replaces the
        default joining rule and receives the raw cell values.
    prefix : str, default=""
        Text put before every caption.
    suffix : str, default=""
        Text put after every caption.
    context : sequence of str, default=None
        Context columns: appended after the concept phrases (text kind) and
        left out of the default set of permuted concepts.
    separator : str, default=", "
        Joins the phrases.
    empty : str, default=""
        The caption body when no concept is present and there is no context,
        for example ``"nothing"`` for a generator that needs an explicit word
        for the empty scene.
    kinds : dict, default=None
        Force the kind (``"binary"``, ``"count"`` or ``"text"``) of some columns
        instead of inferring it from the values. Inference looks at the table
        being captioned, so pin the kind of a count column that may hold only 0
        and 1 in a subset.

    See Also
    --------
    sklearn_depict.CaptionToImage : Uses a captioner to turn tables into images.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict import ConceptCaptioner
    >>> table = pd.DataFrame({"person": [2, 0], "couch": [1, 1], "tv": [0, 1]})
    >>> ConceptCaptioner(kinds={"couch": "count"}).captions(table)
    ['2 person, 1 couch', '1 couch, tv']
    >>> ConceptCaptioner(template="a {animal} on {place}").captions(
    ...     pd.DataFrame({"animal": ["cat"], "place": ["grass"]}))
    ['a cat on grass']
    """

    def __init__(
        self,
        template: str | None = None,
        *,
        prefix: str = "",
        suffix: str = "",
        context: Sequence[Any] | None = None,
        separator: str = ", ",
        empty: str = "",
        kinds: dict[Any, str] | None = None,
    ) -> None:
        self.template = template
        self.prefix = prefix
        self.suffix = suffix
        self.context = context
        self.separator = separator
        self.empty = empty
        self.kinds = kinds

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        return tags

    def fit(self, X: Any, y: Any = None) -> ConceptCaptioner:
        """Check the table and the captioner's settings against it.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_columns)
            A concept table.
        y : None
            Ignored.

        Returns
        -------
        self : ConceptCaptioner
        """
        self.check(check_concept_table(X, caller=type(self).__name__))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Caption every row.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_columns)
            A concept table.

        Returns
        -------
        captions : ndarray of shape (n_samples,), dtype object
        """
        table = check_concept_table(X, caller=type(self).__name__)
        return np.asarray(self.captions(table), dtype=object)

    def context_columns(self, table: pd.DataFrame) -> list[Any]:
        """The context columns of ``table``, in table order."""
        context = list(self.context or ())
        return [name for name in table.columns if name in context]

    def check(self, table: pd.DataFrame) -> dict[Any, str]:
        """Validate the settings against ``table`` and return the column kinds.

        Parameters
        ----------
        table : DataFrame
            A validated concept table.

        Returns
        -------
        kinds : dict
            Mapping from column to kind, as used by :meth:`captions`.
        """
        missing = [c for c in (self.context or ()) if c not in table.columns]
        if missing:
            raise ValueError(
                f"The captioner's context column(s) {missing} are not in the "
                f"concept table; its columns are {list(table.columns)}."
            )
        if self.template is not None:
            named = _template_fields(self.template)
            available = {str(c) for c in table.columns}
            unknown = [f for f in named if f not in available]
            if unknown:
                raise ValueError(
                    f"The caption template {self.template!r} names column(s) "
                    f"{unknown} that are not in the concept table; its columns are "
                    f"{list(table.columns)}."
                )
        kinds = infer_column_kinds(table, self.kinds)
        for name in self.context_columns(table):
            kinds[name] = "text"
        return kinds

    def captions(
        self, table: ConceptTable | pd.DataFrame, *, kinds: Mapping[Any, str] | None = None
    ) -> list[str]:
        """Caption every row of a validated table.

        Parameters
        ----------
        table : ConceptTable or DataFrame
            A concept table, already validated: a :class:`ConceptTable`
            brings its own kinds; a DataFrame (such as rows of a table with
            some cells permuted) is checked with :meth:`check` unless
            ``kinds`` is given.
        kinds : mapping, default=None
            Column kinds, from :meth:`check` or a :class:`ConceptTable`. Pass
            the kinds of a full table when captioning pieces of it, so that
            every piece is captioned alike.

        Returns
        -------
        captions : list of str
        """
        if isinstance(table, ConceptTable):
            kinds = table.kinds if kinds is None else kinds
            table = table.frame
        if kinds is None:
            kinds = self.check(table)
        if self.template is not None:
            body = self._template_bodies(table)
        else:
            body = self._joined_bodies(table, kinds)
        return [f"{self.prefix}{b}{self.suffix}" for b in body]

    def _template_bodies(self, table: pd.DataFrame) -> list[str]:
        names = [str(c) for c in table.columns]
        return [
            self.template.format(**dict(zip(names, row)))
            for row in table.itertuples(index=False, name=None)
        ]

    def _joined_bodies(self, table: pd.DataFrame, kinds: Mapping[Any, str]) -> list[str]:
        context = set(self.context_columns(table))
        order = [c for c in table.columns if c not in context] + [
            c for c in table.columns if c in context
        ]
        phrases = [_column_phrases(table[c], str(c), kinds[c]) for c in order]
        bodies = []
        for row in zip(*phrases):
            present = [p for p in row if p]
            bodies.append(self.separator.join(present) if present else self.empty)
        return bodies


def _template_fields(template: str) -> list[str]:
    fields = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise ValueError(
                f"The caption template {template!r} uses positional fields; name "
                "the columns instead, as in '{object} on {background}'."
            )
        fields.append(field.split(".")[0].split("[")[0])
    return fields


def _column_phrases(column: pd.Series, name: str, kind: str) -> list[str]:
    values = column.tolist()
    if kind == "binary":
        return [name if bool(v) else "" for v in values]
    if kind == "count":
        return [f"{_format_count(v)} {name}" if v > 0 else "" for v in values]
    return [_phrase(v) for v in values]


def _format_count(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _phrase(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if value is pd.NA:
        return ""
    return str(value).strip()
