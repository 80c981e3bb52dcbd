"""Write corpus.txt, the training text of the CharLSTM assignment, from a seeded grammar.

Nothing may be downloaded, so the text is generated: chapters of English prose about the people of
a river valley, built from clauses (movement, work, description, weather, feeling, counting) joined
by conjunctions, with dialogue in quotes, pronouns that follow the paragraph's person, a/an
agreement, numbers and chapter headings. It has the structure a character-level LSTM can learn
(spelling, word order, capitals after full stops, paired quotes) and enough free choices that it
cannot be memorised. The same seed always writes the same bytes, so the file can be rebuilt and
checked:

    python assignments/charlstm/make_corpus.py            # rewrites corpus.txt and holdout.txt
    python assignments/charlstm/make_corpus.py --check    # exits 1 if either differs

holdout.txt is more of the same prose from another seed: the grader's private held-out text
(rubrics/assignment1.yaml, program.holdout.path). It is not handed out, so no notebook can carry
the characters the convergence check scores.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.txt")
HOLDOUT = Path(__file__).with_name("holdout.txt")
SEED = 1871
TARGET_CHARS = 400_000
HOLDOUT_SEED = 2718
HOLDOUT_CHARS = 40_000

PEOPLE = {  # name -> pronoun
    "Mara": "she", "Tobin": "he", "Elsie": "she", "Garrick": "he", "Wren": "she", "Osric": "he",
    "Hester": "she", "Bram": "he", "Linnet": "she", "Corwin": "he", "Agnes": "she", "Piers": "he",
    "Isolde": "she", "Edmund": "he", "Rowena": "she", "Jasper": "he", "Maud": "she", "Fenwick": "he",
    "the miller": "he", "the ferryman": "he", "the weaver": "she", "the old shepherd": "he",
    "the schoolmistress": "she", "the blacksmith": "he", "the widow Hale": "she", "the carter": "he",
    "the innkeeper's daughter": "she", "the young priest": "he",
}  # fmt: skip
TOWNS = ["Ashford", "Kelmoor", "Dunmere", "Oxley", "Harrowgate", "Brindle", "Southwick", "Elmstead"]
PLACE_NOUNS = ["mill", "river", "road", "orchard", "market", "chapel", "harbour", "pasture", "ford",
               "forge", "bridge", "inn", "schoolhouse", "granary", "forest", "hill", "landing",
               "cottage", "churchyard", "marsh", "well", "barn", "quarry", "meadow", "gate", "lane"]
OBJECT_NOUNS = ["lantern", "boat", "basket", "letter", "key", "loaf", "bundle", "wheel", "jar",
                "map", "coat", "sack", "bell", "rope", "ledger", "box", "knife", "net", "cart",
                "hammer", "candle", "kettle", "apple", "egg", "oar", "umbrella", "axe", "horn"]
ADJECTIVES = ["old", "quiet", "small", "grey", "bright", "cold", "heavy", "narrow", "warm", "dark",
              "empty", "green", "wet", "long", "tired", "strange", "broken", "new", "red", "open",
              "silent", "crooked", "muddy", "golden", "ancient", "icy", "worn", "little"]
MOVE = ["walked", "hurried", "rode", "wandered", "went", "came back", "ran", "climbed", "drove",
        "crept", "limped", "strolled", "rowed"]
TOWARDS = ["to", "towards", "past", "along", "across", "into", "around", "beyond"]
HANDLE = ["carried", "brought", "took", "dragged", "found", "lost", "mended", "sold", "hid",
          "opened", "polished", "dropped", "bought", "borrowed", "wrapped", "counted", "painted"]
REST = ["waited", "listened", "watched the water", "said nothing", "sat down", "laughed", "sighed",
        "slept", "prayed", "sang softly", "stood still", "shook with cold", "wept", "smiled"]
ADVERBS = ["slowly", "quietly", "at once", "without a word", "for a long time", "again", "carefully",
           "gladly", "in silence", "as usual", "all morning", "before dawn", "until dark"]
SEEM = ["was", "seemed", "looked", "grew", "became", "stayed"]
SCENERY = ["wind", "rain", "light", "water", "field", "sky", "fire", "smoke", "snow", "frost",
           "grass", "mist", "moon", "tide", "dust", "shadow"]
FEELINGS = ["afraid", "glad", "weary", "angry", "hopeful", "lonely", "restless", "proud", "uneasy",
            "content", "ashamed", "curious"]
CONJUNCTIONS = [", and ", ", but ", " because ", " while ", " until ", " before ", " after ", ", so "]
TIMES = ["In the morning", "At dusk", "Before the first snow", "On the third day", "After supper",
         "Late that night", "In the spring", "When the bell rang", "At noon", "Some days later",
         "That winter", "On Sunday", "At first light", "By evening", "Long ago", "The next week"]
DIRECTIONS = ["north", "south", "east", "west", "sea", "hills", "marsh", "mountains"]
SPEECH = ["said", "answered", "whispered", "called", "replied", "muttered", "cried", "asked"]
QUESTION_STARTS = ["Where is", "Who took", "Have you seen", "Why did you sell", "When will you mend",
                   "Did anyone find", "What happened to", "Who left"]
COUNTABLE = ["sheep", "boats", "houses", "apples", "sacks", "lanterns", "children", "geese", "cows",
             "barrels", "candles", "horses"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "twenty", "forty", "a hundred"]
TITLES = ["THE FLOOD", "THE LETTER", "THE MARKET", "A WINTER NIGHT", "THE BROKEN WHEEL", "THE FERRY",
          "THE SILVER BELL", "THE HARVEST", "THE STRANGER", "THE FORD", "THE FAIR AT KELMOOR",
          "THE LOST KEY", "SMOKE ON THE HILL", "THE WEDDING", "THE LONG ROAD", "THE QUARRY"]


def roman(n: int) -> str:
    out = ""
    for value, letters in [(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]:
        while n >= value:
            out, n = out + letters, n - value
    return out


def capital(text: str) -> str:
    return text[0].upper() + text[1:]


def article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


class Chronicle:
    """Sentences about one person at a time: a paragraph names them, then mostly uses the pronoun."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick(self, items):
        return self.rng.choice(items)

    def maybe(self, probability: float, text: str) -> str:
        return text if self.rng.random() < probability else ""

    def noun_phrase(self, nouns: list[str], determiners: list[str]) -> str:
        adjective = self.maybe(0.5, self.pick(ADJECTIVES) + " ")
        determiner = self.pick(determiners)
        if determiner == "a":
            return article(adjective + self.pick(nouns))
        return f"{determiner} {adjective}{self.pick(nouns)}"

    def place(self) -> str:
        if self.rng.random() < 0.2:
            return self.pick(TOWNS)
        return self.noun_phrase(PLACE_NOUNS, ["the", "the", "the", "a"]) + self.maybe(0.2, f" at {self.pick(TOWNS)}")

    def clause(self, subject: str, pronoun: str) -> str:
        possessive = {"she": "her", "he": "his"}[pronoun]
        kind = self.rng.random()
        if kind < 0.25:
            return f"{subject} {self.pick(MOVE)} {self.pick(TOWARDS)} {self.place()}"
        if kind < 0.5:
            thing = self.noun_phrase(OBJECT_NOUNS, ["the", "a", possessive])
            return f"{subject} {self.pick(HANDLE)} {thing}" + self.maybe(0.4, f" near {self.place()}")
        if kind < 0.65:
            return f"{subject} {self.pick(REST)}" + self.maybe(0.5, f" {self.pick(ADVERBS)}")
        if kind < 0.75:
            return f"{subject} felt {self.pick(FEELINGS)}"
        if kind < 0.88:
            return f"the {self.pick(SCENERY)} {self.pick(SEEM)} {self.pick(ADJECTIVES)}"
        if kind < 0.94:
            return f"the wind came from the {self.pick(DIRECTIONS)}"
        many = self.pick(NUMBER_WORDS) if self.rng.random() < 0.6 else str(self.rng.randint(2, 99))
        return f"there were {many} {self.pick(COUNTABLE)} by {self.place()}"

    def sentence(self, who: str, named: bool) -> str:
        pronoun = PEOPLE[who]
        subject = who if named else pronoun
        r = self.rng.random()
        if r < 0.15:
            return f'"{capital(self.clause("I", pronoun))}," {self.pick(SPEECH[:-1])} {who}.'
        if r < 0.23:
            other = self.pick([p for p in PEOPLE if p != who])
            thing = self.pick([other, "the " + self.pick(OBJECT_NOUNS)])
            return f'"{self.pick(QUESTION_STARTS)} {thing}?" asked {who}.'
        text = self.clause(subject, pronoun)
        if r < 0.6:
            other = self.pick([who, pronoun, pronoun]) if self.rng.random() < 0.7 else self.pick(list(PEOPLE))
            text += self.pick(CONJUNCTIONS) + self.clause(other, PEOPLE.get(other, pronoun))
        if self.rng.random() < 0.2:
            return f"{self.pick(TIMES)}, {text}."
        return capital(text) + "."

    def paragraph(self) -> str:
        who = self.pick(list(PEOPLE))
        count = self.rng.randint(2, 7)
        return " ".join(self.sentence(who, named=i == 0 or self.rng.random() < 0.25) for i in range(count))

    def chapter(self, number: int) -> str:
        paragraphs = [self.paragraph() for _ in range(self.rng.randint(25, 45))]
        return f"CHAPTER {roman(number)}\n\n{self.pick(TITLES)}\n\n" + "\n\n".join(paragraphs) + "\n\n\n"


def build(seed: int = SEED, target_chars: int = TARGET_CHARS) -> str:
    chronicle = Chronicle(random.Random(seed))
    chapters: list[str] = []
    while sum(map(len, chapters)) < target_chars:
        chapters.append(chronicle.chapter(len(chapters) + 1))
    return "THE VALLEY CHRONICLE\n\n\n" + "".join(chapters).rstrip("\n") + "\n"


def build_holdout(seed: int = HOLDOUT_SEED, target_chars: int = HOLDOUT_CHARS, corpus: str | None = None) -> str:
    """Held-out prose from another seed, limited to the corpus's characters (a model cannot score
    a character its vocabulary lacks)."""
    known = set(corpus if corpus is not None else build())
    return "".join(c if c in known else " " for c in build(seed, target_chars))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    corpus = build()
    files = {CORPUS: corpus, HOLDOUT: build_holdout(corpus=corpus)}
    if parser.parse_args().check:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
        for path in files:
            print(f"{path}: {'differs from the generator; rebuild it' if path in stale else 'up to date'}")
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path} ({len(text)} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
