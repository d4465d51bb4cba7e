"""A generator of TinyStories-style text: short, simple stories for small models.

The TinyStories data set (children's stories written with a tiny vocabulary) cannot be
downloaded here, so the course makes its own stand-in. Each story picks a hero, a friend,
a place and a thing, then walks through a fixed arc (setting, wish, problem, help,
ending) choosing one phrasing per beat. The result has what makes TinyStories good for
small models: few distinct words, short sentences, recurring names, and structure a
model can learn in minutes. The same seed always gives the same stories.
"""

from __future__ import annotations

import random

HEROES = [("Lily", "she", "her"), ("Tom", "he", "his"), ("Mia", "she", "her"), ("Ben", "he", "his"),
          ("Sue", "she", "her"), ("Max", "he", "his"), ("Anna", "she", "her"), ("Sam", "he", "his"),
          ("Zoe", "she", "her"), ("Leo", "he", "his")]
FRIENDS = ["a little dog", "a big cat", "a kind bird", "a small frog", "a happy duck", "an old owl",
           "a shy bunny", "a funny fish"]
PLACES = ["the park", "the garden", "the beach", "the forest", "the farm", "the lake", "the hill"]
THINGS = ["red ball", "blue kite", "shiny stone", "toy car", "yellow hat", "big box", "soft teddy"]
FEELINGS = ["happy", "sad", "scared", "excited", "tired", "proud"]

OPENINGS = [
    "Once upon a time, there was a little {kind} named {name}.",
    "One day, a little {kind} named {name} woke up early.",
    "There was once a {kind} called {name} who lived near {place}.",
]
WISHES = [
    "{Pron} loved to play with {poss} {thing} at {place}.",
    "{Pron} wanted to find a {thing} at {place}.",
    "Every day, {pron} took {poss} {thing} to {place}.",
]
PROBLEMS = [
    "But one day, the {thing} fell into a deep hole and {name} felt {feeling}.",
    "Then the wind blew hard and the {thing} flew up into a tall tree.",
    "Suddenly, it began to rain and {name} could not find the {thing}.",
]
HELPS = [
    "{Friend} saw {name} and said, \"Do not be {feeling}. I will help you!\"",
    "{Friend} came by and helped {name} look for the {thing}.",
    "{Name} asked {friend} for help, and {friend} said yes.",
]
ENDINGS = [
    "Together they found the {thing}, and {name} smiled. They played until the sun went down.",
    "At last the {thing} was safe. {Name} said thank you, and they became best friends.",
    "{Name} learned that it is good to ask for help. The end.",
]


def generate_story(rng: random.Random) -> str:
    """One story, five sentences long, drawn with ``rng``."""
    name, pron, poss = rng.choice(HEROES)
    friend = rng.choice(FRIENDS)
    slots = {
        "name": name, "Name": name, "pron": pron, "Pron": pron.capitalize(), "poss": poss,
        "kind": "girl" if pron == "she" else "boy", "friend": friend, "Friend": friend.capitalize(),
        "place": rng.choice(PLACES), "thing": rng.choice(THINGS), "feeling": rng.choice(FEELINGS),
    }
    beats = (OPENINGS, WISHES, PROBLEMS, HELPS, ENDINGS)
    return " ".join(rng.choice(beat).format(**slots) for beat in beats)


def generate_stories(num_stories: int, seed: int = 0) -> list[str]:
    """``num_stories`` stories from a fixed seed: the same arguments give the same text."""
    if num_stories < 1:
        raise ValueError(f"num_stories must be positive, got {num_stories}")
    rng = random.Random(seed)
    return [generate_story(rng) for _ in range(num_stories)]
