#!/usr/bin/python3
"""A story grammar of lmc's own: the text the default model is trained on.

Every story is generated here, so the corpus (and the model trained on it) is
the project's own work under the project's license, with no third-party text.

A story has a fixed shape -- opening, hero, place, habit, wish, journey,
problem, helper, solution, reward, ending -- but each slot draws from lists
and the slots depend on each other, so a model must learn the structure rather
than memorise stories:
  * the hero's name, species and pronoun recur and must agree (he/she/they,
    "his"/"her"/"their", "was"/"were");
  * the wished-for thing is named at the start and found at the end;
  * a problem admits only the helpers that can solve it, and the solution
    sentence depends on both the problem and the helper;
  * the ending names the hero, the helper and the wish again.
The slots multiply to about 10^18 stories (40 names x 30 species x 26 wishes
x 14 problems x their helpers x templates ...): far more than any corpus holds.

Generation is deterministic for a given seed (Python's random.Random, which
is stable across versions for these calls).

  story_grammar.py --seed 1 --count 30000 > train.txt   # one story per line
"""

import argparse
import random
import sys

NAMES = [
    "Pip", "Mia", "Tom", "Lily", "Ben", "Zoe", "Max", "Anna", "Leo", "Ruby", "Sam", "Ella",
    "Finn", "Nora", "Jack", "Lucy", "Otto", "Ivy", "Hugo", "Rosa", "Milo", "Lena", "Theo",
    "Maya", "Oscar", "Luna", "Felix", "Daisy", "Jonas", "Clara", "Kai", "Greta", "Nico",
    "Hazel", "Arlo", "Tess", "Bruno", "Wren", "Emil", "Juno",
]
# name -> pronoun set is drawn per story, so a name does not fix a pronoun.
PRONOUNS = {
    "he": {"subj": "he", "obj": "him", "pos": "his", "be": "was", "Subj": "He"},
    "she": {"subj": "she", "obj": "her", "pos": "her", "be": "was", "Subj": "She"},
    "they": {"subj": "they", "obj": "them", "pos": "their", "be": "were", "Subj": "They"},
}
SPECIES = [
    "fox", "rabbit", "bear", "mouse", "owl", "duck", "cat", "dog", "frog", "hedgehog",
    "squirrel", "turtle", "goat", "pig", "lamb", "otter", "badger", "deer", "robot",
    "dragon", "penguin", "girl", "boy", "king", "queen", "puppy", "kitten", "bee",
    "snail", "lion",
]
GENDERED = {"girl": ["she", "they"], "queen": ["she", "they"], "boy": ["he", "they"],
            "king": ["he", "they"]}
ADJECTIVES = [
    "little", "brave", "shy", "curious", "tiny", "clever", "sleepy", "happy", "kind",
    "small", "funny", "gentle", "quiet", "busy", "young", "silly", "careful", "bold",
]
PLACES = [
    "a quiet village by the sea", "a big green forest", "a small house on a hill",
    "a busy town", "a warm cave under the mountain", "a sunny farm", "a tall castle",
    "a little boat on the lake", "a garden full of flowers", "a snowy valley",
    "an old tree by the river", "a cozy hole under the roots", "a bright city",
    "a windy island", "a field of tall grass", "a quiet pond in the woods",
]
HABITS = [
    "loved to sing", "liked to paint", "loved to run", "liked to read books",
    "loved to dance in the rain", "liked to build towers", "loved to play ball",
    "liked to count the stars", "loved to bake bread", "liked to climb trees",
    "loved to tell jokes", "liked to pick berries", "loved to swim", "liked to draw maps",
]
# (the wish as first said, how it is named later, where it is found)
WISHES = [
    ("a red kite", "the red kite", "caught in the branches of a tree"),
    ("a shiny blue ball", "the blue ball", "resting in the soft grass"),
    ("a golden key", "the golden key", "hidden under a flat stone"),
    ("a big yellow hat", "the yellow hat", "hanging on an old fence"),
    ("a magic shell", "the magic shell", "lying on the wet sand"),
    ("a little green boat", "the green boat", "floating by the shore"),
    ("a jar of sweet honey", "the jar of honey", "sitting on a wooden shelf"),
    ("a warm wool scarf", "the wool scarf", "folded in a basket"),
    ("a silver bell", "the silver bell", "ringing softly in the wind"),
    ("a book of old stories", "the book of stories", "waiting on a dusty table"),
    ("a purple flower", "the purple flower", "growing beside a rock"),
    ("a box of colored pencils", "the box of pencils", "tucked inside a hollow log"),
    ("a tiny wooden horse", "the wooden horse", "standing in a patch of moss"),
    ("a bright lantern", "the lantern", "glowing at the end of the path"),
    ("a pair of red boots", "the red boots", "drying in the sun"),
    ("a round orange pumpkin", "the pumpkin", "growing in a secret patch"),
    ("a star that fell from the sky", "the fallen star", "sparkling in a puddle"),
    ("a new friend", "a new friend", "smiling at the gate"),
    ("a drum that could play by itself", "the magic drum", "humming under a bench"),
    ("a cake with seven candles", "the cake", "cooling on a window sill"),
    ("a map of the whole world", "the map", "rolled up in a bottle"),
    ("a feather of every color", "the rainbow feather", "stuck to a thorn bush"),
    ("a cup of hot cocoa", "the cocoa", "steaming on a little table"),
    ("a kite shaped like a fish", "the fish kite", "tangled in a fence"),
    ("a snow globe", "the snow globe", "shining on a windowsill"),
    ("a wagon with four wheels", "the wagon", "parked behind a barn"),
]
DESTINATIONS = [
    "the old mill", "the top of the hill", "the edge of the forest", "the far side of the lake",
    "the market in town", "the lighthouse", "the big meadow", "the river bend",
    "the old bridge", "the garden wall", "the tall pine tree", "the sandy beach",
    "the quiet library", "the bakery on the corner",
]
TIMES = ["One morning", "One day", "One sunny afternoon", "One windy evening",
         "Early one day", "One cold morning", "One bright morning"]

# A problem: its sentence, what the hero says, and which helpers can solve it.
# Helper kinds: lift (strong), fly (wings), swim (water), light, dig, know (wise).
PROBLEMS = [
    ("a wide river ran across the path", "How will I get across?", ["swim", "fly"]),
    ("a big rock blocked the way", "I cannot move this rock.", ["lift", "dig"]),
    ("the sky grew dark and the path was hard to see", "I cannot see the way.",
     ["light", "fly"]),
    ("a deep hole opened in the ground", "How will I get past this hole?", ["lift", "fly"]),
    ("a fallen tree lay across the road", "The tree is too heavy for me.", ["lift", "dig"]),
    ("the path split into three roads", "Which road is the right one?", ["know", "fly"]),
    ("a tall wall stood in the way", "The wall is too high to climb.", ["fly", "lift"]),
    ("a strong wind blew and blew", "The wind will blow me away.", ["lift", "know"]),
    ("the bridge was broken in the middle", "The bridge is broken!", ["swim", "lift"]),
    ("thick fog covered the whole hill", "Everything is gray.", ["light", "know"]),
    ("a thorny bush grew over the path", "The thorns are too sharp.", ["dig", "know"]),
    ("the door was locked tight", "I cannot open the door.", ["know", "dig"]),
    ("the ice on the pond began to crack", "The ice is not safe.", ["swim", "fly"]),
    ("a cold night came and the way was long", "I am so tired and cold.",
     ["light", "lift"]),
]
HELPERS = {
    "lift": ["a strong bear", "a big elephant", "a kind giant", "an old ox", "a friendly moose"],
    "fly": ["a wise owl", "a white goose", "a little bird", "a tall stork", "a young eagle"],
    "swim": ["a kind turtle", "a happy otter", "a big fish", "a friendly duck", "a gray seal"],
    "light": ["a glowing firefly", "a small lamp spirit", "a bright star", "a kind glowworm"],
    "dig": ["a busy mole", "a quick badger", "a small rabbit", "a clever beaver"],
    "know": ["an old tortoise", "a wise owl", "a clever crow", "a gentle grandmother"],
}
HELPER_NAMES = ["Moss", "Sunny", "Pebble", "Clover", "Bramble", "Dot", "Maple", "Flint",
                "Willow", "Button", "Acorn", "Fern", "Pepper", "Sage", "Biscuit", "Comet"]
# What a helper of each kind does about a problem; {H} is the helper's name,
# {h} the hero's name, {o} the hero's object pronoun.
SOLUTIONS = {
    "lift": ["{H} lifted {o} up high and carried {o} to the other side.",
             "{H} pushed and pushed, and the way was clear.",
             "{H} let {h} ride on top and walked on."],
    "fly": ["{H} flew above and showed {h} the way.",
            "{H} took {o} up into the sky and set {o} down safely on the other side.",
            "{H} circled high and called, \"Follow me!\""],
    "swim": ["{H} said, \"Climb on my back,\" and swam {o} across.",
             "{H} found a safe way through the water for {o}.",
             "{H} pulled a little raft to {h}, and they crossed together."],
    "light": ["{H} glowed bright, and the path was easy to see.",
              "{H} lit the way, step by step.",
              "{H} shone like a tiny sun and walked beside {o}."],
    "dig": ["{H} dug a tunnel, and {h} crawled through.",
            "{H} dug and dug until there was a way around.",
            "{H} cleared the ground with quick paws."],
    "know": ["{H} thought for a moment and said, \"Go left, then follow the stream.\"",
             "{H} knew an old secret path and led {o} along it.",
             "{H} told {o} a clever trick, and it worked."],
}
FEELINGS = ["felt sad", "felt scared", "did not know what to do", "sat down and sighed",
            "felt a little worried", "almost gave up"]
OPENINGS = ["Once upon a time", "Long ago", "Once", "A long time ago"]
ENDINGS = [
    "From that day on, {h} and {H} were the best of friends.",
    "{h} thanked {H} and went home with {wl}, smiling all the way.",
    "That night, {h} fell asleep with {wl} close by and dreamed happy dreams.",
    "{h} shared {wl} with {H}, and they laughed until the sun went down.",
    "{h} learned that a friend can make any road shorter.",
    "Every year after that, {h} visited {H} at {d}.",
    "And {h} never forgot the kind {Hs} who helped {o} that day.",
]
MORALS = ["", "", "", " Being kind always comes back to you.", " Asking for help is brave too.",
          " Good friends help each other."]


def cap(s):
    return s[0].upper() + s[1:]


def story(rng):
    hero = rng.choice(NAMES)
    species = rng.choice(SPECIES)
    p = PRONOUNS[rng.choice(GENDERED.get(species, ["he", "she", "they"]))]
    adj = rng.choice(ADJECTIVES)
    place = rng.choice(PLACES)
    habit = rng.choice(HABITS)
    wish, wish_later, found_at = rng.choice(WISHES)
    dest = rng.choice(DESTINATIONS)
    problem, cry, kinds = rng.choice(PROBLEMS)
    kind = rng.choice(kinds)
    helper_desc = rng.choice(HELPERS[kind])
    helper_species = helper_desc.split()[-1]
    helper = rng.choice(HELPER_NAMES)
    fmt = {"h": hero, "H": helper, "o": p["obj"], "wl": wish_later, "d": dest,
           "Hs": helper_species}
    s = []
    opening = rng.choice(OPENINGS)
    if rng.random() < 0.5:
        s.append(f"{opening}, in {place}, there lived a {adj} {species} named {hero}.")
    else:
        s.append(f"{opening}, there was a {adj} {species} called {hero}, who lived in {place}.")
    s.append(f"{hero} {habit}, but more than anything, {p['subj']} wanted {wish}.")
    if rng.random() < 0.5:
        s.append(f"{p['Subj']} {p['be']} sure {wish_later} could be found somewhere.")
    s.append(f"{rng.choice(TIMES)}, {hero} set off toward {dest}.")
    s.append(f"On the way, {problem}.")
    said = cry[:-1] + "," if cry.endswith(".") else cry
    s.append(f"{hero} {rng.choice(FEELINGS)}. \"{said}\" {p['subj']} said.")
    s.append(f"Just then, {helper_desc} named {helper} came by.")
    s.append(f"\"What is wrong?\" asked {helper}. {hero} told {helper} everything.")
    s.append(rng.choice(SOLUTIONS[kind]).format(**fmt))
    if wish == "a new friend":
        s.append(f"At {dest}, {hero} looked at {helper} and laughed. "
                 f"{p['Subj']} had found a new friend after all!")
    else:
        s.append(f"At {dest}, {hero} found {wish_later}, {found_at}.")
        s.append(f"{hero} held {wish_later} tight. \"Thank you, {helper}!\" {p['subj']} said.")
    s.append(rng.choice(ENDINGS).format(**fmt) + rng.choice(MORALS))
    s.append("The end.")
    return " ".join(cap(x) for x in s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout
    for _ in range(args.count):
        out.write(story(rng) + "\n")


if __name__ == "__main__":
    main()
