"""Sentiment (the seed's TextBlob-based function, self-contained): polarity and subjectivity per sentence.

A small built-in lexicon scores words from -1 (negative) to +1 (positive) with a subjectivity from 0
(factual) to 1 (opinion); ``very``/``really``/``extremely`` strengthen the next scored word and
``not``/``never``/``no`` flip it, as TextBlob's pattern analyser does. The result averages the sentences.
"""

import re
from typing import Any

MAX_CHARS = 100_000
#: word -> (polarity, subjectivity)
LEXICON: dict[str, tuple[float, float]] = {
    "good": (0.7, 0.6),
    "great": (0.8, 0.75),
    "excellent": (1.0, 1.0),
    "amazing": (0.6, 0.9),
    "wonderful": (1.0, 1.0),
    "love": (0.5, 0.6),
    "happy": (0.8, 1.0),
    "nice": (0.6, 1.0),
    "fast": (0.2, 0.6),
    "reliable": (0.5, 0.5),
    "easy": (0.43, 0.83),
    "best": (1.0, 0.3),
    "beautiful": (0.85, 1.0),
    "fantastic": (0.4, 0.9),
    "pleasant": (0.73, 0.97),
    "clean": (0.37, 0.69),
    "bad": (-0.7, 0.67),
    "terrible": (-1.0, 1.0),
    "awful": (-1.0, 1.0),
    "poor": (-0.4, 0.6),
    "slow": (-0.3, 0.39),
    "hate": (-0.8, 0.9),
    "sad": (-0.5, 1.0),
    "ugly": (-0.7, 1.0),
    "broken": (-0.4, 0.4),
    "worst": (-1.0, 1.0),
    "boring": (-1.0, 1.0),
    "difficult": (-0.5, 1.0),
    "angry": (-0.5, 1.0),
    "expensive": (-0.5, 0.7),
    "wrong": (-0.5, 0.9),
    "failed": (-0.5, 0.3),
}
INTENSIFIERS = {"very": 1.3, "really": 1.3, "extremely": 1.5, "quite": 1.1, "so": 1.2}
NEGATIONS = {"not", "never", "no", "n't"}
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|n't")


def score(sentence: str) -> tuple[float, float]:
    """(polarity, subjectivity) of one sentence: the mean over its scored words (0, 0 when none)."""
    words = _WORD.findall(sentence.lower().replace("n't", " n't"))
    scored: list[tuple[float, float]] = []
    boost, flip = 1.0, False
    for word in words:
        if word in NEGATIONS:
            flip = True
        elif word in INTENSIFIERS:
            boost *= INTENSIFIERS[word]
        elif word in LEXICON:
            polarity, subjectivity = LEXICON[word]
            polarity = max(-1.0, min(1.0, polarity * boost))
            scored.append((-0.5 * polarity if flip else polarity, min(1.0, subjectivity * boost)))
            boost, flip = 1.0, False
    if not scored:
        return 0.0, 0.0
    return sum(p for p, _ in scored) / len(scored), sum(s for _, s in scored) / len(scored)


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Params: ``analyse`` (text). Returns the mean ``polarity`` and ``subjectivity`` of its sentences."""
    text = args.get("analyse", "")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHARS:
        return {
            "error": f"parameter 'analyse' is {str(text)[:40]!r}; use non-empty text of at most "
            f"{MAX_CHARS} characters, e.g. 'The service is great.'"
        }
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    scores = [score(s) for s in sentences]
    return {
        "sentences": len(sentences),
        "polarity": round(sum(p for p, _ in scores) / len(scores), 4),
        "subjectivity": round(sum(s for _, s in scores) / len(scores), 4),
    }
