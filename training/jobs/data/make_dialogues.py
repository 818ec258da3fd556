"""Regenerate dialogues.jsonl: short simple-English chats for the tiny bootstrap policy.

Run `python training/jobs/data/make_dialogues.py` after editing the templates; the output is
committed so that building the tiny policy never depends on this script's randomness.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

ANIMALS = {
    "cat": ("small", "milk and fish", "purr", "in a house"),
    "dog": ("friendly", "meat and biscuits", "bark", "in a house or a yard"),
    "cow": ("big", "grass", "moo", "on a farm"),
    "bird": ("light", "seeds and worms", "sing", "in a nest in a tree"),
    "fish": ("quiet", "small plants and bugs", "swim", "in the water"),
    "horse": ("strong", "hay and grass", "run", "in a stable"),
    "duck": ("happy", "bread and bugs", "quack", "in a pond"),
    "sheep": ("soft", "grass", "baa", "in a field"),
    "bee": ("busy", "nectar from flowers", "buzz", "in a hive"),
    "frog": ("green", "flies", "jump", "in a pond"),
}
COLORS = {
    "sky": "blue", "grass": "green", "snow": "white", "sun": "yellow", "night": "black",
    "banana": "yellow", "tomato": "red", "orange": "orange", "leaf": "green", "coal": "black",
    "milk": "white", "strawberry": "red", "carrot": "orange", "cloud": "white", "plum": "purple",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "up": "down", "fast": "slow", "happy": "sad", "day": "night",
    "old": "new", "open": "closed", "light": "dark", "full": "empty", "wet": "dry", "early": "late",
    "high": "low", "near": "far", "loud": "quiet", "hard": "soft",
}
FOODS = ["bread", "rice", "soup", "apples", "eggs", "pasta", "beans", "cheese", "fruit", "salad"]
PLACES = {
    "library": "read books", "park": "play and walk", "kitchen": "cook food", "school": "learn",
    "shop": "buy things", "beach": "swim and rest", "garden": "grow plants", "bank": "keep money",
    "hospital": "get well", "station": "catch a train",
}
WEATHER = {
    "rain": "take an umbrella", "snow": "wear a warm coat", "sun": "wear a hat and drink water",
    "wind": "hold on to your hat", "fog": "walk with care", "cold": "wear gloves",
}
TASKS = {
    "make tea": "Boil water, put a tea bag in a cup, pour the water, and wait three minutes.",
    "wash my hands": "Wet your hands, use soap, rub for twenty seconds, then rinse and dry them.",
    "sleep better": "Go to bed at the same time each night and keep your room dark and quiet.",
    "learn a new word": "Read it, say it out loud, and use it in a sentence today.",
    "make a friend": "Say hello, ask a kind question, and listen to the answer.",
    "save money": "Write down what you spend and put a little away each week.",
    "plant a seed": "Put the seed in soft soil, give it water, and keep it in the sun.",
    "stay calm": "Take a slow breath, count to five, and breathe out slowly.",
    "clean my room": "Pick up one thing at a time and put it where it belongs.",
    "write a letter": "Start with a greeting, say what you want to say, and end with your name.",
    "cook rice": "Wash the rice, add two cups of water for each cup of rice, and cook it slowly.",
    "read more": "Keep a book with you and read a few pages every day.",
}
NAMES = ["Anna", "Ben", "Sam", "Lily", "Tom", "Maya", "Leo", "Nora", "Jack", "Emma", "Omar", "Zoe"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
                "eighteen", "nineteen", "twenty"]


def _animal_dialogues(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for name, (adj, food, sound, home) in ANIMALS.items():
        out += [
            (f"What does a {name} eat?", f"A {name} eats {food}."),
            (f"Where does a {name} live?", f"A {name} lives {home}."),
            (f"What sound does a {name} make?", f"A {name} can {sound}."),
            (f"Tell me about a {name}.", f"A {name} is a {adj} animal. It eats {food} and lives {home}."),
            (f"Is a {name} an animal?", f"Yes, a {name} is an animal."),
        ]
    return out


def _color_dialogues(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for thing, color in COLORS.items():
        out.append((f"What color is the {thing}?", f"The {thing} is {color}."))
        wrong = rng.choice([c for c in set(COLORS.values()) if c != color])
        out.append((f"Is the {thing} {wrong}?", f"No, the {thing} is not {wrong}. It is {color}."))
    return out


def _opposite_dialogues(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for word, opposite in OPPOSITES.items():
        out.append((f"What is the opposite of {word}?", f"The opposite of {word} is {opposite}."))
        out.append((f"Give me the opposite of the word {opposite}.", f"The opposite of {opposite} is {word}."))
    return out


def _math_dialogues(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for _ in range(40):
        a, b = rng.randint(0, 10), rng.randint(0, 10)
        out.append((f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."))
    for _ in range(20):
        a = rng.randint(2, 20)
        b = rng.randint(0, a)
        out.append((f"What is {a} minus {b}?", f"{a} minus {b} is {a - b}."))
    for n in range(1, 20):
        out.append((f"What number comes after {NUMBER_WORDS[n]}?", f"After {NUMBER_WORDS[n]} comes {NUMBER_WORDS[n + 1]}."))
    return out


def _people_dialogues(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for name in NAMES:
        food = rng.choice(FOODS)
        place = rng.choice(list(PLACES))
        out += [
            (f"Say hello to {name}.", f"Hello, {name}! It is nice to meet you."),
            (f"{name} likes {food}. What does {name} like?", f"{name} likes {food}."),
            (f"Write a short story about {name}.",
             f"{name} went to the {place} one morning. {name} was happy there and came home at night."),
            (f"{name} is at the {place}. Where is {name}?", f"{name} is at the {place}."),
        ]
    return out


def _place_dialogues(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for place, purpose in PLACES.items():
        out.append((f"What do people do at the {place}?", f"At the {place}, people {purpose}."))
        out.append((f"Why would I go to the {place}?", f"You go to the {place} to {purpose}."))
    for weather, advice in WEATHER.items():
        out.append((f"What should I do when there is {weather}?", f"When there is {weather}, you should {advice}."))
    for task, answer in TASKS.items():
        out.append((f"How do I {task}?", answer))
        out.append((f"Can you tell me how to {task}?", f"Sure. {answer}"))
    return out


def _small_talk(rng: random.Random) -> list[tuple[str, str]]:
    return [
        ("Hello!", "Hello! How can I help you today?"),
        ("Hi there.", "Hi! What would you like to talk about?"),
        ("How are you?", "I am well, thank you. How are you?"),
        ("Good morning.", "Good morning! I hope you have a nice day."),
        ("Good night.", "Good night! Sleep well."),
        ("Thank you.", "You are welcome."),
        ("Thanks for your help.", "You are welcome. I am happy to help."),
        ("What is your name?", "I am a small helper. I do not have a name."),
        ("Can you help me?", "Yes, I can help. What do you need?"),
        ("Tell me a joke.", "Why did the cat sit on the computer? It wanted to keep an eye on the mouse."),
        ("Tell me something nice.", "You are doing well. Every day you learn something new."),
        ("What day comes after Monday?", "Tuesday comes after Monday."),
        ("What day comes after Friday?", "Saturday comes after Friday."),
        ("How many days are in a week?", "There are seven days in a week."),
        ("How many months are in a year?", "There are twelve months in a year."),
        ("What is the first month of the year?", "The first month of the year is January."),
        ("What season is cold?", "Winter is the cold season."),
        ("What season is warm?", "Summer is the warm season."),
        ("Why do we sleep?", "We sleep so that our body and mind can rest."),
        ("Why should I drink water?", "Water keeps your body healthy and helps you think."),
        ("Goodbye.", "Goodbye! Have a good day."),
        ("I am sad.", "I am sorry you feel sad. A walk or a talk with a friend may help."),
        ("I am happy today.", "That is great! I am glad you are happy."),
        ("What is a book?", "A book is a set of pages with words you can read."),
        ("What is a tree?", "A tree is a tall plant with a trunk, branches and leaves."),
        ("What is rain?", "Rain is water that falls from the clouds."),
    ]


def build(seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for make in (_animal_dialogues, _color_dialogues, _opposite_dialogues, _math_dialogues,
                 _people_dialogues, _place_dialogues, _small_talk):
        pairs += make(rng)
    seen: set[str] = set()
    rows = []
    for user, assistant in pairs:
        if user in seen:
            continue
        seen.add(user)
        rows.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]})
    rng.shuffle(rows)
    return rows


if __name__ == "__main__":
    target = Path(__file__).with_name("dialogues.jsonl")
    rows = build()
    target.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} dialogues to {target}")
