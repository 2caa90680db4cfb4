"""The storyworld lexicon: free slot word sets (synonyms, scenery, emotions) plus re-exports.

Templates use two sorts of slots. Plan slots (upper case: ``{H}``, ``{P}``, ``{O}`` ...) are
filled from the story's plan and must stay consistent; free slots (lower case: ``{walked}``,
``{things}`` ...) are drawn afresh at every use from the sets in :data:`FREE_SLOTS`. Free slots
in :data:`OPENER_SLOTS` have capitalised values and only ever begin a sentence.
"""

from __future__ import annotations

from cola_core.data.storyworld.lexicon_people import (
    A_EXCEPTIONS,
    AN_EXCEPTIONS,
    KINDS_ANY,
    KINDS_HE,
    KINDS_SHE,
    NAMES_ANY,
    NAMES_HE,
    NAMES_SHE,
    PRONOUNS,
    RELATIVES,
    TRAITS,
    _phrases,
    _words,
)
from cola_core.data.storyworld.lexicon_world import (
    CLUES,
    CONTEST_ADJS,
    CONTEST_NOUNS,
    FOODS,
    LANDMARK_ADJS,
    LANDMARK_NOUNS,
    OBJECT_ADJS,
    OBJECT_NOUNS,
    OBSTACLES,
    PLACE_ADJS,
    PLACE_NOUNS,
    TASKS,
)

# Sentence openers (capitalised, only used at the start of a sentence, followed by a comma).
OPENER_SLOTS: dict[str, tuple[str, ...]] = {
    "once": _phrases("""Once upon a time, Long ago, Many years ago, Not so long ago, In a time long
        past, Once, A long time ago, In the old days, Years and years ago"""),
    "one_day": _phrases("""One day, One morning, Early one morning, One bright afternoon, Late one
        evening, One summer day, One winter morning, One spring day, One autumn afternoon, One rainy
        day, One windy morning, On a quiet morning, On a warm afternoon, One cold evening, One
        Tuesday, One Saturday morning, On the first day of spring, One foggy morning"""),
    "then": _phrases("""Then, After that, Soon, Later, Before long, Next, After a while, Shortly
        after, Not long after, A little later, In time, Some time later, Moments later"""),
    "suddenly": _phrases("""Suddenly, All at once, Without warning, Out of nowhere, All of a sudden,
        Just then, At that moment, Quite unexpectedly"""),
    "in_the_end": _phrases("""In the end, At last, Finally, By sunset, When evening came, By
        nightfall, At the end of the day, Eventually, When the day was over, That evening"""),
}

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "walked": _words("walked wandered strolled hiked trekked marched tramped trudged ambled roamed"),
    "looked": _words("looked searched hunted"),
    "said": _words("said whispered replied answered exclaimed declared announced insisted"),
    "found": _phrases("found, spotted, discovered, noticed, came across, stumbled upon, uncovered"),
    "decided": _words("decided chose resolved vowed"),
    "wanted": _words("wanted wished hoped longed yearned"),
    "big": _words("big huge enormous giant massive great"),
    "small": _words("small little tiny wee cozy snug"),
    "beautiful": _words("beautiful lovely pretty gorgeous splendid stunning magnificent charming"),
    "quickly": _words("quickly swiftly rapidly hastily briskly eagerly"),
    "carefully": _words("carefully slowly gently cautiously quietly patiently"),
    "very": _words("very really truly quite so"),
    "path": _words("path road trail track lane"),
    "tired": _phrases("tired, weary, sleepy, exhausted, worn out, footsore"),
    "friend": _words("friend companion pal buddy"),
    "hard": _phrases("hard, tirelessly, for hours, again and again, all day long"),
    "kin": RELATIVES,
    "good": _words("happy glad proud relieved thrilled delighted overjoyed pleased grateful excited"),
    "bad": _words("""sad unhappy disappointed gloomy glum upset downcast heartbroken discouraged
        sorrowful miserable dejected"""),
    "scared": _words("scared nervous worried afraid anxious frightened uneasy tense jittery"),
}

_SCENERY: dict[str, tuple[str, ...]] = {
    "things": _phrases("""wildflowers, butterflies, daisies, mushrooms, fireflies, dragonflies, pine
        trees, ferns, puddles, pebbles, poppies, bluebells, buttercups, dandelions, tulips, sunflowers,
        lilies, violets, clovers, thistles, cattails, reeds, bushes, hedges, birch trees, maple trees,
        oak trees, willows, acorns, pinecones, berries, brambles, vines, lanterns, flags, stalls,
        cobblestones, fences, haystacks, beehives, bird nests, spiderwebs, seashells, rock pools,
        snowflakes, icicles, fallen leaves, blossoms, lavender bushes, rose bushes, apple trees,
        cherry trees, toadstools, marigolds, foxgloves, heather, moss, lichen, shrubs, cottages,
        windmills, scarecrows, kites, boats, lily pads, cornflowers, primroses, snowdrops, ivy,
        anemones, azaleas, begonias, bracken, camellias, carnations, chrysanthemums, crocuses,
        daffodils, dahlias, geraniums, gorse, hollyhocks, honeysuckles, hyacinths, irises,
        lupins, magnolias, nettles, orchids, pansies, peonies, periwinkles, rushes, saplings,
        sedges, snapdragons, sorrel, sweet peas, thorn bushes, wisteria, yews, zinnias, cobwebs,
        pumpkins, gourds, barrels, wheelbarrows, clotheslines, weathervanes, signposts"""),
    "animals": _phrases("""rabbits, squirrels, deer, ducks, geese, sparrows, robins, crows, frogs,
        butterflies, bees, lambs, goats, foxes, hedgehogs, chipmunks, owls, swans, herons, seagulls,
        crabs, lizards, mice, cows, horses, hens, pigeons, starlings, finches, beetles, ladybugs,
        grasshoppers, otters, badgers, moles, voles, bats, magpies, woodpeckers, kingfishers,
        blackbirds, bluebirds, cardinals, chickadees, doves, ducklings, ferrets, goslings, hares,
        jays, kittens, larks, nightingales, partridges, pheasants, piglets, puppies, quails,
        shrews, snails, thrushes, toads, weasels, wrens"""),
    "sceneadj": _words("""bright colorful tall tiny pretty golden silver shimmering swaying glowing
        fluffy fragrant dewy delicate wild crimson violet pale scarlet emerald dappled rustling
        sparkling velvety feathery frosty sunlit amber blooming bobbing brilliant buttery cheerful
        dainty drooping dusky fiery flickering gleaming glossy lacy leafy lilac luminous nodding
        plump radiant ruby russet slender speckled starry towering twinkling vivid"""),
    "sound": _phrases("""birdsong, distant bells, rustling leaves, croaking frogs, chirping crickets,
        the hum of bees, the splash of water, the wind in the trees, children laughing, a dog
        barking, the creak of a cart, soft music, the cry of gulls, church bells, a woodpecker
        tapping, the buzz of insects, the roar of the sea, a cuckoo calling, rain on the leaves,
        the bleating of sheep, an owl hooting, a rooster crowing, the rumble of thunder, the
        clatter of hooves, a distant flute, the chatter of sparrows, a babbling brook, the tinkle
        of wind chimes, a fiddle playing, the patter of raindrops, a foghorn, the clang of a
        hammer, a lullaby, the crackle of a fire, the quack of ducks, a banjo strumming"""),
    "smell": _phrases("""fresh rain, pine needles, wild roses, sea salt, warm hay, baking bread, wood
        smoke, wet earth, ripe apples, honeysuckle, mint leaves, lavender, cut grass, damp moss,
        spices, cinnamon, orange peel, lilacs, mushrooms, clover, jasmine, seaweed, vanilla,
        nutmeg, rosemary, thyme, sage, woodsmoke, caramel, peppermint, gardenias, freesias,
        blackberries, sawdust, toffee, cloves, marjoram"""),
    "sky": _words("""blue grey cloudless pink golden stormy pale clear cloudy purple orange hazy
        bright silvery overcast"""),
    "weather": _words("""warm cold crisp breezy humid mild chilly hot cool damp fresh icy gusty
        sultry still"""),
    "moral": _phrases("""friends make every journey easier, patience is a kind of courage, it is good
        to ask for help, kindness is worth more than gold, trying is what matters most, courage
        grows when you use it, every problem has a solution, small steps lead to big things, home is
        where your friends are, honesty always pays, a good plan needs a good heart, nothing is lost
        forever, hard work is its own reward, sharing makes everything better, listening is as
        important as talking, it is fine to fail sometimes, curiosity can lead to wonderful places,
        a smile can change a whole day, helping others helps yourself, every journey starts with a
        single step, the best treasures are the people you love, you should never give up,
        teamwork makes hard things easy, mistakes help us learn, there is always another chance,
        the world is full of surprises, good things come to those who wait, a kind word can
        open any door, even small creatures can do great deeds, laughter makes burdens lighter,
        the bravest thing is to keep going, wisdom often comes from unexpected places, generosity
        is never wasted, true friends stand by you in hard times, gratitude turns what we have
        into enough"""),
}

# Every free slot: its name in templates mapped to the words it may take.
FREE_SLOTS: dict[str, tuple[str, ...]] = {**OPENER_SLOTS, **_SYNONYMS, **_SCENERY}

NAMES: tuple[str, ...] = tuple(dict.fromkeys(NAMES_SHE + NAMES_HE + NAMES_ANY))
KINDS: tuple[str, ...] = tuple(dict.fromkeys(KINDS_SHE + KINDS_HE + KINDS_ANY))
# Which pronoun sets each kind of creature allows.
KIND_PRONOUNS: dict[str, frozenset[str]] = {
    **{k: frozenset({"he", "she", "they"}) for k in KINDS_ANY},
    **{k: frozenset({"she"}) for k in KINDS_SHE},
    **{k: frozenset({"he"}) for k in KINDS_HE},
}
TASK_BASE: tuple[str, ...] = tuple(f"{b} {o}" for b, _, _, o in TASKS)
TASK_PAST: dict[str, str] = {f"{b} {o}": f"{p} {o}" for b, p, _, o in TASKS}
TASK_GERUND: dict[str, str] = {f"{b} {o}": f"{g} {o}" for b, _, g, o in TASKS}


def article(word: str) -> str:
    """Return the indefinite article ("a" or "an") that goes before ``word``."""
    w = word.lower()
    if w in AN_EXCEPTIONS:
        return "an"
    if w in A_EXCEPTIONS:
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


__all__ = [
    "CLUES",
    "CONTEST_ADJS",
    "CONTEST_NOUNS",
    "FOODS",
    "FREE_SLOTS",
    "KINDS",
    "KIND_PRONOUNS",
    "KINDS_ANY",
    "KINDS_HE",
    "KINDS_SHE",
    "LANDMARK_ADJS",
    "LANDMARK_NOUNS",
    "NAMES",
    "NAMES_ANY",
    "NAMES_HE",
    "NAMES_SHE",
    "OBJECT_ADJS",
    "OBJECT_NOUNS",
    "OBSTACLES",
    "OPENER_SLOTS",
    "PLACE_ADJS",
    "PLACE_NOUNS",
    "PRONOUNS",
    "RELATIVES",
    "TASKS",
    "TASK_BASE",
    "TASK_GERUND",
    "TASK_PAST",
    "TRAITS",
    "article",
]
