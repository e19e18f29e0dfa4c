"""A word-level CLIP tokenizer learned from captions, built in memory."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["build_word_tokenizer", "word_tokenizer"]

_WORD = re.compile(r"[a-z]+|[0-9]|[^\sa-z0-9]")


def _words(captions: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for caption in captions:
        found.update(_WORD.findall(str(caption).lower()))
    return sorted(word for word in found if len(word) > 1)


def build_word_tokenizer(captions: Iterable[str], *, model_max_length: int = 77) -> Any:
    """Build a ``CLIPTokenizer`` whose vocabulary holds each caption word whole.

    The vocabulary is every printable ASCII character (alone and as a word
    ending), one token per distinct word of ``captions`` and CLIP's two special
    tokens. It depends only on the set of words, so the same captions in any
    order give the same tokenizer. A word it has not seen is spelled out in
    characters rather than lost.

    Parameters
    ----------
    captions : iterable of str
        The training captions.
    model_max_length : int, default=77
        Length every prompt is padded or truncated to.

    Returns
    -------
    tokenizer : transformers.CLIPTokenizer
        Saved and loaded with the pipeline like any other tokenizer.

    Examples
    --------
    >>> from sklearn_depict.text_to_image import build_word_tokenizer
    >>> tok = build_word_tokenizer(["red circle, blue square", "nothing"])
    >>> tok.tokenize("blue circle, red square")
    ['blue</w>', 'circle</w>', ',</w>', 'red</w>', 'square</w>']
    """
    return word_tokenizer(_words(captions), model_max_length=model_max_length)


def word_tokenizer(words: Sequence[str], *, model_max_length: int = 77) -> Any:
    """Build a ``CLIPTokenizer`` that reads each of ``words`` as one token.

    The vocabulary is every printable ASCII character (alone and as a word
    ending), then the merges that spell each word, in the order given, then
    CLIP's two special tokens. :func:`build_word_tokenizer` calls it with the
    sorted words of its captions.

    Parameters
    ----------
    words : sequence of str
        Lower-case words; their order fixes the token ids.
    model_max_length : int, default=77
        Length every prompt is padded or truncated to.

    Returns
    -------
    tokenizer : transformers.CLIPTokenizer

    Examples
    --------
    >>> from sklearn_depict.text_to_image.tokenizer import word_tokenizer
    >>> tok = word_tokenizer(["circle", "red"])
    >>> tok.tokenize("red circle, redder")
    ['red</w>', 'circle</w>', ',</w>', 're', 'd', 'd', 'e', 'r</w>']
    """
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(33, 127)]
    vocab: dict[str, int] = {}
    for symbol in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(symbol, len(vocab))
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:  # merge left to right, so the word ends up one token
            pair = (pieces[0], pieces[1])
            if pair not in seen:
                seen.add(pair)
                merges.append(pair)
            vocab.setdefault(pair[0] + pair[1], len(vocab))
            pieces = [pair[0] + pair[1], *pieces[2:]]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=int(model_max_length))
