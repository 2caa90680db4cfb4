"""Word lists about the world: places, landmarks, objects, obstacles, clues, food, contests, tasks.

Composite entities are an adjective (always one word) plus a noun phrase, e.g. "misty" + "forest"
or "old" + "bell tower"; the plan stores the two parts separately.
"""

from __future__ import annotations

from cola_core.data.storyworld.lexicon_people import _phrases, _words

PLACE_ADJS = _words("""
misty sunny quiet snowy windy green golden sleepy busy little faraway hidden peaceful rainy rocky
sandy shady silent frosty foggy mossy breezy bright cozy dusty gloomy grassy hilly leafy lonely
lovely lush muddy pleasant remote rugged sleepy sparkling stormy tiny tranquil wild wooded
enchanted forgotten northern southern eastern western ancient humble cheerful drowsy balmy chilly
blustery bustling craggy dreamy emerald fertile flowery frozen hazy icy marshy mountainous
picturesque pine quaint rolling rustic scenic secluded serene shadowy shimmering snug starlit
sunlit swampy verdant wintry
""")

PLACE_NOUNS = _words("""
village town city forest wood valley harbor meadow island marsh swamp desert canyon jungle prairie
farm orchard castle kingdom garden park seaside beach bay cove glen hamlet moor heath grove lagoon
oasis countryside tundra savanna riverbank lakeside hillside mountainside woodland wetland bayou
fjord delta citadel fortress shire port suburb vineyard ranch estate borough township highland
lowland coast peninsula plateau rainforest
archipelago atoll backwater badland bog boomtown brook cape chasm dale downs
dell fen foothill gorge gulch headland inlet isle knoll marketplace mesa outpost pasture
settlement spinney steppe thicket upland vale wilderness
""")

LANDMARK_ADJS = _words("""
old tall stone wooden ancient crooked red blue hidden quiet crumbling shining lonely great little
narrow white mossy rusty painted round abandoned grey secret sunken windy forgotten broad dark
marble brick golden shabby sturdy creaky leaning lopsided spooky famous empty ruined towering
whitewashed thatched overgrown
""")

LANDMARK_NOUNS = _phrases("""
bridge, tower, well, mill, lighthouse, windmill, cave, waterfall, lake, pond, hill, cliff, gate,
fountain, barn, cottage, chapel, library, market, pier, dock, shed, greenhouse, stable, bakery,
schoolhouse, museum, station, tunnel, clearing, statue, monument, treehouse, hollow, ridge, summit,
canal, dam, quarry, boathouse, watchtower, observatory, sawmill, bell tower, bandstand, carousel,
playground, oak tree, willow tree, farmhouse, inn, tavern, post office, town hall, clock tower,
castle gate, harbor wall, fishing hut, beehive, scarecrow, signpost, stepping stones, gazebo,
orchard wall, hedge maze, rope bridge, ferry landing, crossroads, chimney, attic, cellar, garden
shed, rowboat, campfire, log cabin, tollbooth, water tower, pavilion, archway, courtyard, aqueduct,
amphitheater, birdbath, boulder, bunker, cairn, cathedral, causeway, cistern, colonnade,
dovecote, drawbridge, dungeon, embankment, forge, granary, grotto, hayloft, jetty, kiln, lookout,
mausoleum, millpond, obelisk, orangery, pagoda, palisade, pergola, rampart,
reservoir, rotunda, sundial, trellis, turret, viaduct, weathervane, wharf
""")

OBJECT_ADJS = _words("""
silver golden red blue green yellow purple wooden tiny little shiny old striped spotted velvet
woolen leather brass copper glass crystal painted favorite lucky magic orange pink black white
polished carved heavy precious small sparkly dusty rusty battered knitted embroidered enamel
pearl ivory ebony jade bronze tin paper cardboard clay patchwork checkered speckled
amber beaded braided chipped crimson dented dotted feathered flowered frilly gilded glittering
jeweled lacy marbled mended navy plaid quilted ragged satin scarlet silken stitched tartan
turquoise tweed violet wicker
""")

OBJECT_NOUNS = _phrases("""
key, kite, ring, hat, scarf, ball, book, map, compass, lantern, necklace, bracelet, locket, watch,
bell, whistle, marble, shell, feather, coin, button, glove, mitten, boot, spoon, cup, teapot,
basket, bag, box, bottle, jar, drum, flute, violin, harmonica, doll, teddy bear, toy boat,
paintbrush, pencil, notebook, diary, letter, postcard, photograph, umbrella, blanket, pillow,
quilt, sweater, ribbon, crown, medal, trophy, mirror, comb, telescope, balloon, pinwheel, puzzle,
robot, toy train, sled, skateboard, wagon, acorn, pinecone, crayon, music box, snow globe, brooch,
hairpin, thimble, spinning top, yoyo, kazoo, tambourine, recorder, ukulele, bucket, shovel,
watering can, fishing rod, hammer, wrench, paper crane, jigsaw, chess piece, rattle, rocking horse,
lunchbox, backpack, wallet, purse, hairbrush, candle, candlestick, vase, bowl, plate, kettle,
jump rope, hourglass, magnifying glass, pocketknife, seashell, gemstone, pebble, horseshoe,
abacus, anchor, apron, banjo, barometer, beret, bonnet, bookmark, bugle, cap, cape, chalice,
clarinet, cloak, cushion, easel, fan, figurine, flag, goblet, guitar, handkerchief,
helmet, jacket, keychain, ladle, lute, mandolin, medallion, metronome, mug, napkin, ornament,
paperweight, pendant, piggy bank, pitcher, quill, rolling pin, saddle, satchel, shawl,
slingshot, spyglass, stopwatch, teacup, tiara, trumpet, tuba, vest, xylophone
""")

# Obstacle noun phrases with the verb phrases (simple past) that get past them.
OBSTACLES: dict[str, tuple[str, ...]] = {
    "fallen tree": ("climbed over", "crawled under", "walked around", "scrambled over"),
    "deep river": ("swam across", "waded across", "rafted across", "found a way across"),
    "locked gate": ("unlocked", "climbed over", "squeezed through", "opened"),
    "thick fog": ("found a way through", "walked slowly through", "waited out", "felt a way through"),
    "steep hill": ("climbed up", "scrambled up", "marched up", "hiked up"),
    "sudden storm": ("waited out", "hid from", "sheltered from", "ran through"),
    "swarm of bees": ("ran away from", "tiptoed past", "slipped past", "hid from"),
    "broken bridge": ("repaired", "fixed", "carefully crossed", "mended"),
    "growling dog": ("calmed", "made friends with", "tiptoed past", "fed"),
    "muddy path": ("trudged along", "hopped along", "splashed along", "squelched through"),
    "dark tunnel": ("crawled through", "walked through", "lit up", "hurried through"),
    "tall wall": ("climbed over", "found a door in", "scaled", "clambered over"),
    "wide puddle": ("jumped over", "splashed through", "walked around", "leaped over"),
    "pile of rocks": ("climbed over", "moved", "cleared away", "scrambled over"),
    "tangle of thorns": ("cut through", "pushed through", "crept around", "snipped through"),
    "frozen pond": ("slid across", "skated across", "tiptoed across", "walked around"),
    "hungry bear": ("tiptoed past", "hid from", "crept past", "fed"),
    "grumpy troll": ("outsmarted", "tricked", "made friends with", "cheered up"),
    "heavy door": ("pushed open", "pulled open", "heaved open", "unlocked"),
    "howling wind": ("pushed against", "struggled through", "hid from", "waited out"),
    "snowdrift": ("dug through", "climbed over", "shoveled away", "tramped through"),
    "rushing stream": ("leaped across", "hopped across", "crossed", "waded across"),
    "rickety ladder": ("carefully climbed", "climbed", "steadied", "crept up"),
    "maze of hedges": ("found a way through", "solved", "wandered through", "escaped"),
    "riddle carved in stone": ("solved", "answered", "figured out", "cracked"),
    "flock of angry geese": ("ran past", "shooed away", "tiptoed past", "calmed"),
    "flooded road": ("waded along", "went around", "splashed along", "crossed"),
    "wobbly rope bridge": ("carefully crossed", "crept across", "crossed", "tiptoed across"),
    "landslide": ("climbed over", "went around", "cleared away", "scrambled over"),
    "sleeping giant": ("tiptoed past", "crept past", "sneaked past", "slipped past"),
    "patch of quicksand": ("went around", "jumped over", "edged around", "avoided"),
    "sticky spider web": ("brushed aside", "ducked under", "cut through", "slipped past"),
    "blizzard": ("waited out", "struggled through", "sheltered from", "pushed through"),
    "rolling boulder": ("jumped away from", "dodged", "ducked behind a tree to escape", "outran"),
    "narrow ledge": ("edged along", "crept along", "shuffled along", "carefully crossed"),
    "crowd of goats": ("squeezed past", "shooed away", "wandered through", "led away"),
    "slippery slope": ("slid down", "crept down", "climbed", "skidded down"),
    "thorny bramble": ("cut through", "pushed through", "crawled under", "went around"),
    "mean old goose": ("outran", "shooed away", "made friends with", "tiptoed past"),
    "swinging gate": ("caught", "slipped past", "held open", "closed"),
}

CLUES = _phrases("""
trail of footprints, torn map, crumpled note, blue feather, set of tracks, muddy paw print,
broken twig, scrap of cloth, old photograph, line of pebbles, chalk arrow, carved sign, hidden
path, secret door, glowing mushroom, message in a bottle, ribbon tied to a branch, trail of crumbs,
bent signpost, painted rock, lost glove, wet paw print, tuft of fur, golden thread, half a
letter, candle stub, pile of acorn shells, bird drawing, knot in a rope, smudge of paint, row of
stones, little wooden sign, silver button, faded drawing, wheel track, scrap of paper,
broken shoelace, trail of sawdust, dropped marble, smear of honey, strand of wool, bent nail, cork
stopper, wax seal, trail of petals, heap of feathers, scratched arrow, puzzling footprint, coil of
string, crooked stick, snapped branch, chalk drawing, muddy boot print
""")

FOODS = _phrases("""
warm bread, apple pie, cheese sandwiches, blueberry muffins, hot soup, roasted nuts, fresh
strawberries, honey cakes, plum jam, oat biscuits, carrot sticks, cherry tarts, pumpkin soup,
lemon cookies, ripe pears, crunchy apples, buttered toast, warm porridge, cinnamon buns, grapes,
hot cocoa, vegetable stew, berry juice, cornbread, fig rolls, raisin scones, potato pancakes,
banana bread, peppermint tea, sugar plums, wild raspberries, roasted chestnuts, milk and cookies,
cucumber sandwiches, pea soup, fish cakes, rice pudding, gingerbread, maple fudge, cold lemonade,
almond biscuits, apricot tarts, baked beans, barley soup, beetroot salad, cheddar crackers, corn
on the cob, cranberry bread, custard, dumplings, figs, flatbread, fried eggs, hazelnut cake,
mushroom pie, noodles, oatcakes, olives, pancakes, peach cobbler, pickles, plums, pretzels,
radishes, sausages, shortbread, tomato soup, waffles, walnut bread, yogurt
""")

CONTEST_ADJS = _words("""
spring summer autumn winter yearly grand big village harvest midsummer moonlight weekend royal
annual famous friendly great county seaside springtime
""")

CONTEST_NOUNS = _phrases("""
race, kite contest, baking contest, singing contest, boat race, chess tournament, pumpkin contest,
sandcastle contest, spelling bee, talent show, painting contest, dance contest, fishing contest,
sack race, poetry contest, puzzle contest, swimming race, bicycle race, snowman contest, pie
contest, jumping contest, rowing race, archery contest, costume contest, treasure hunt, sled race,
flower show, riddle contest, juggling contest, tug of war, drawing contest, quilting contest,
hopscotch contest, marble tournament, pancake race, pottery contest, kayak race, skating race,
storytelling contest, whistling contest, hat parade, scarecrow contest, cart race, chili cookoff
""")

# Tasks one character can help another with: (base, past, gerund) verb forms plus the object.
TASKS: tuple[tuple[str, str, str, str], ...] = (
    ("build", "built", "building", "a raft"),
    ("fix", "fixed", "fixing", "a fence"),
    ("plant", "planted", "planting", "a garden"),
    ("paint", "painted", "painting", "the barn"),
    ("bake", "baked", "baking", "a cake"),
    ("clean", "cleaned", "cleaning", "the pond"),
    ("sew", "sewed", "sewing", "a quilt"),
    ("carve", "carved", "carving", "a boat"),
    ("mend", "mended", "mending", "a fishing net"),
    ("build", "built", "building", "a snowman"),
    ("repair", "repaired", "repairing", "the old cart"),
    ("pick", "picked", "picking", "the apples"),
    ("build", "built", "building", "a birdhouse"),
    ("paint", "painted", "painting", "a mural"),
    ("fix", "fixed", "fixing", "the roof"),
    ("sort", "sorted", "sorting", "the library books"),
    ("wash", "washed", "washing", "the wagon"),
    ("stack", "stacked", "stacking", "the firewood"),
    ("weave", "wove", "weaving", "a basket"),
    ("knit", "knitted", "knitting", "a scarf"),
    ("rebuild", "rebuilt", "rebuilding", "the stone wall"),
    ("tend", "tended", "tending", "the sheep"),
    ("decorate", "decorated", "decorating", "the hall"),
    ("dig", "dug", "digging", "a new well"),
    ("harvest", "harvested", "harvesting", "the wheat"),
    ("clear", "cleared", "clearing", "the path"),
    ("wrap", "wrapped", "wrapping", "the presents"),
    ("tune", "tuned", "tuning", "the old piano"),
    ("patch", "patched", "patching", "the sail"),
    ("build", "built", "building", "a treehouse"),
    ("water", "watered", "watering", "the flowers"),
    ("mend", "mended", "mending", "the chicken coop"),
    ("write", "wrote", "writing", "a song"),
    ("make", "made", "making", "a kite"),
    ("polish", "polished", "polishing", "the bells"),
    ("brush", "brushed", "brushing", "the ponies"),
    ("prune", "pruned", "pruning", "the roses"),
    ("sweep", "swept", "sweeping", "the chimney"),
    ("varnish", "varnished", "varnishing", "the canoe"),
    ("bind", "bound", "binding", "the books"),
    ("milk", "milked", "milking", "the goats"),
    ("churn", "churned", "churning", "the butter"),
    ("thatch", "thatched", "thatching", "the cottage"),
    ("frame", "framed", "framing", "the painting"),
)
