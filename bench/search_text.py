"""Words for the search benchmark: real English, Spanish and Chinese text from the shared corpus.

The generated documents draw their words from these lists with the frequencies they have in
the corpus (so a few words are common and most are rare, as in real catalogues), and the
benchmark's keywords are content words drawn the same way. The corpus stays where it is
(../shared/corpus, or MEMORIA_CORPUS); nothing from it is copied into the repository.
"""

from __future__ import annotations

import html
import itertools
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CORPUS = Path(os.environ.get("MEMORIA_CORPUS",
                             Path(__file__).resolve().parents[2] / "shared" / "corpus"))
TEXT_SUFFIXES = {".xml", ".csv", ".json", ".jsonl", ".ttl", ".rdf", ".nt", ".jsonld", ".txt"}
STOPWORDS = {
    "en": set("the of and in with by a an to for from on at as is was are be this that which "
              "its his her their or not".split()),
    "es": set("de la el y los del las en con por una un que se su sus al lo como para es "
              "fue son".split()),
    "fr": set("des les une est dans qui sur par pour sont avec du le et aux ces cette".split()),
}
# Tokens of markup, links and file names, not words anybody searches for.
NOISE = set("http https www org com jpg jpeg png tif html xml php amp nbsp quot".split())
_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r"\S*(?:://|www\.|/)\S*")
_SPLIT = re.compile(r"[\n\r\t\"|{}\[\]]+")
_WORD = re.compile(r"[^\W\d_]+")
_HAN = re.compile(r"[\u4e00-\u9fff]+")


@dataclass(frozen=True)
class Vocabulary:
    """Words (or Han runs) and their corpus counts, most frequent first."""

    words: tuple[str, ...]
    cum_weights: tuple[int, ...]

    @classmethod
    def of(cls, counts: Counter[str]) -> Vocabulary:
        """A vocabulary from counts."""
        ranked = counts.most_common()
        return cls(tuple(w for w, _ in ranked),
                   tuple(itertools.accumulate(c for _, c in ranked)))

    def sample(self, rng: random.Random, k: int) -> list[str]:
        """k words drawn with their corpus frequencies."""
        return rng.choices(self.words, cum_weights=self.cum_weights, k=k)

    def pool(self, rng: random.Random, size: int = 1 << 20) -> list[str]:
        """Many words drawn once; a random slice of it is a fast frequency-true sample."""
        return self.sample(rng, size)


def _texts(root: Path) -> list[str]:
    if not root.is_dir():
        raise SystemExit(f"the search benchmark reads words from the corpus at {root}; "
                         "set MEMORIA_CORPUS to its folder")
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        text = _LINK.sub(" ", html.unescape(_TAG.sub("\n", text)))
        out += [t.strip() for t in _SPLIT.split(text) if len(t.strip()) > 3]
    return out


def _language(words: list[str]) -> str | None:
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    runner_up = max(v for lang, v in scores.items() if lang != best)
    # Lines mixing languages (a French note in a Spanish record) would blur the lists.
    return best if scores[best] >= 2 and runner_up == 0 else None


@lru_cache(maxsize=1)
def corpus_vocabularies() -> dict[str, Vocabulary]:
    """en and es word vocabularies, zh Han runs, and each language's content words."""
    counts: dict[str, Counter[str]] = {"en": Counter(), "es": Counter(), "zh": Counter()}
    for text in _texts(CORPUS):
        counts["zh"].update(run for run in _HAN.findall(text) if len(run) >= 2)
        words = [w.lower() for w in _WORD.findall(text)]
        lang = _language(words) if len(words) >= 4 else None
        if lang in ("en", "es"):
            counts[lang].update(w for w in words if len(w) > 1 and w not in NOISE)
    vocab = {lang: Vocabulary.of(c) for lang, c in counts.items()}
    for lang in ("en", "es"):
        content = Counter({w: c for w, c in counts[lang].items()
                           if len(w) >= 4 and w not in STOPWORDS[lang]})
        vocab[f"{lang}-content"] = Vocabulary.of(content)
    return vocab


def words_from(pool: list[str], rng: random.Random, k: int) -> list[str]:
    """k consecutive words of a pool from a random place."""
    start = rng.randrange(len(pool) - k)
    return pool[start:start + k]


def han_text(pool: list[str], rng: random.Random, low: int, high: int) -> str:
    """Real Han runs (from a pool) joined and cut to between low and high characters."""
    size = rng.randint(low, high)
    return "".join(words_from(pool, rng, size // 2 + 1))[:size]  # runs have two or more


def han_keyword(vocab: Vocabulary, rng: random.Random) -> str:
    """Two characters that stand together in the corpus, drawn by how often their run occurs."""
    run = vocab.sample(rng, 1)[0]
    start = rng.randrange(len(run) - 1)
    return run[start:start + 2]


__all__ = ["Vocabulary", "corpus_vocabularies", "han_keyword", "han_text", "words_from"]
