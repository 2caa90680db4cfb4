"""Word lists about characters: names, pronoun sets, traits, kinds of creature and relatives.

All entries are plain lowercase ASCII (names capitalised) without hyphens or apostrophes, so the
validator can compile them into regex alternatives and the vocabulary counter sees whole words.
"""

from __future__ import annotations


def _words(block: str) -> tuple[str, ...]:
    """Split a whitespace separated block into a tuple, dropping duplicates but keeping order."""
    return tuple(dict.fromkeys(block.split()))


def _phrases(block: str) -> tuple[str, ...]:
    """Split a comma separated block into stripped phrases, dropping duplicates but keeping order."""
    return tuple(dict.fromkeys(" ".join(p.split()) for p in block.split(",") if p.strip()))


NAMES_SHE = _words("""
Abigail Ada Adele Agnes Aisha Alba Alice Alina Alma Amara Amber Amelia Amira Amy Ana Anika Anita
Anna Annie Ariana Astrid Aurora Ava Beatrice Bella Bianca Bonnie Brenda Bridget Camila Carla Carmen
Caroline Cecilia Celeste Charlotte Chloe Clara Claudia Cora Daisy Daphne Delia Diana Dina Dora
Dorothy Edith Elena Eliza Ella Ellie Eloise Elsa Elsie Emilia Emily Emma Esme Esther Eva Evelyn
Fatima Fay Felicity Fiona Flora Florence Frida Gemma Georgia Gina Gloria Grace Greta Gwen Hana
Hannah Harriet Hazel Heidi Helen Helga Ida Imogen Ines Ingrid Irene Iris Isabel Isla Ivy Jade Jana
Jane Jasmine Jenny Jessica Joan Josephine Julia Juliet Kara Katie Keira Kiara Lara Laura Layla Lea
Leila Lena Lila Lily Lina Linda Lisa Liv Lola Lorna Lucia Lucy Luna Lydia Mabel Maddie Maggie
Maisie Maja Mara Margot Maria Marina Martha Matilda Maya Megan Mei Melody Mia Mila Milly Mina
Miriam Molly Mona Nadia Nadine Nala Nancy Naomi Nell Nina Noor Nora Olga Olive Olivia Paige Paloma
Pearl Penny Petra Phoebe Pippa Polly Priya Queenie Rachel Rania Rebecca Rita Rosa Rosie Ruby Ruth
Sabrina Sadie Sally Samira Sara Selma Sienna Sofia Sonia Stella Susan Talia Tamara Tara Tessa Thea
Tilda Tina Uma Una Ursula Valerie Vanessa Vera Victoria Viola Violet Wanda Wendy Willa Winnie Xena
Yara Yasmin Yvonne Zara Zelda Zoe Zora Nia Kaya Leona Lottie Marigold Odette Opal Pia Renata Rhea
Signe Solveig Tove Vivian Wilma Yuki Aiko Hina Sakura Mirela Lucinda Ottilie Philippa Rosalind
Seraphina Beatrix Clementine Dolores Eleanor Felicia Genevieve Henrietta Isadora Johanna Katarina
Leonora Magdalena Nadira Octavia Rosamund Tabitha Verity Winifred Adela Bettina Cordelia Dagny
Elodie Fenella Gisela Hattie Ilse Jolene Kirsten Lorelei Minnie Nessa Orla Perdita Romy Saskia
Thora Ulla Vesna Ximena Yolanda Zinnia Beryl Coral Dulcie Effie Freya Gracie Honor Ione Jemima
Kezia Lavinia Maude Nerys Ondine Prudence Rosalie Sybil Trudy Undine Velma Xanthe Zuzana
Adaeze Ayesha Bronwen Cressida Dervla Elspeth Farah Gwendolyn Hester Isolde Jacinta Kalinda Liesl
Marisol Nkechi Oona Perpetua Rosalind Svetlana Tatiana Ulrika Valentina Wilhelmina Yesenia Zofia
Amaya Bryony Calla Deirdre Esperanza Fleur Guinevere Halima Ines Jocasta Kamala Lucasta Malvina
Nerissa Oriana Petunia Rowena Sunniva Theodora Ursa Veronika Wilhelmine Yasmina Zuleika Anouk
Brigid Caitlin Dymphna Eira Franziska Gudrun Hedda Imelda Juniper Kalani Leocadia Morwenna Nanami
""")

NAMES_HE = _words("""
Aaron Abel Adam Adrian Ahmed Alan Albert Alfie Alfred Ali Amos Anders Andre Angus Anton Archie Arlo
Arthur Asher Axel Barnaby Basil Ben Benedict Bernard Bertie Bjorn Boris Bruno Caleb Calvin Carl
Carlos Cedric Chester Clarence Clement Colin Conrad Cyril Damian Daniel Dante Darius David Declan
Dennis Derek Dexter Diego Dimitri Dominic Donald Douglas Duncan Dylan Edgar Edmund Edward Edwin
Elias Elliot Emil Enzo Eric Ernest Ethan Eugene Evan Ezra Felix Ferdinand Finn Fletcher Floyd
Francis Frank Fred Gabriel Gareth George Gerald Gideon Gilbert Giles Gordon Graham Gregory Gus
Hamish Hank Hans Harold Harry Harvey Hector Henry Herbert Horace Howard Hugo Ian Igor Isaac Ivan
Jack Jacob Jake Jamal James Jasper Javier Jerome Jesse Joel John Jonah Jonas Joseph Joshua Julian
Julius Karl Keith Kenji Kevin Kofi Lars Laurence Leo Leon Leonard Lewis Liam Lionel Logan Louis
Lucas Luke Magnus Malcolm Marco Marcus Mario Martin Marvin Mason Matteo Maxwell Miles Milo Moses
Murray Nathan Ned Neil Nelson Nigel Noah Norman Oliver Omar Oscar Oswald Otto Owen Pablo Patrick
Paul Percy Peter Philip Pierre Quentin Rafael Ralph Ravi Raymond Reuben Rex Rhys Richard Robert
Roland Roman Rufus Rupert Russell Samuel Santiago Sebastian Seth Silas Simon Stanley Stefan Sven
Theo Theodore Thomas Tobias Toby Tom Tristan Victor Vincent Walter Warren Wesley Wilbur Wilfred
William Winston Xavier Yusuf Zachary Zane Ambrose Augustus Bartholomew Benji Cassius Cosmo Crispin
Dashiell Desmond Ebenezer Fergus Gustav Horatio Ignatius Jethro Lachlan Leopold Lorcan Mortimer
Nikolai Octavius Percival Rocco Thaddeus Ulysses Valentin Wolfgang Alistair Bram Cormac Dorian
Elmer Fabian Gulliver Hal Ingram Lorenzo Monty Nestor Orson Ruben Sidney Tarquin Ulrich Vernon
Wallace Yannick Zeke Anselm Barney Cuthbert Dougal Eamon Fitz Godfrey Hubert Ivor Jonty Kasimir
Lyle Mungo Neville Ogden Piers Quincy Rollo Seamus Torvald Uriah Virgil Wendell Yorick Zebedee
Achille Bertram Caspian Diarmuid Eberhard Florian Gervase Hilary Idris Jarvis Kester Lancelot
Malachi Norbert Obadiah Peregrine Radomir Septimus Tancred Umberto Vasily Wystan Xerxes Yaroslav
Zoltan Alaric Benedikt Conall Dmitri Erasmus Fintan Gregor Hrothgar Ishmael Joachim Kazimir Leander
Mattias Njal Osric Pascal Quillon Rainier Sylvester Tobiah Ugo Vitus Waldo Yevgeny Zacchaeus Arvid
Bartosz Cillian Domenico Evander Fyodor Gunnar Hyacinth Ignacio Jeremiah Konstantin Lazarus Mordecai
""")

NAMES_ANY = _words("""
Alex Ariel Ash Avery Bailey Blair Blake Cameron Casey Charlie Dakota Drew Eden Ellis Emery Finley
Frankie Gale Harley Harper Hayden Indigo Jamie Jordan Jules Kai Kendall Kit Lane Lennon Linden
Marlowe Morgan Noel Oakley Parker Peyton Quinn Reese Remy Riley River Robin Rowan Sage Sam Sasha
Shay Skyler Spencer Sterling Sydney Tatum Taylor Toni Val Wren Zephyr Arden Auden Bellamy Briar
Brook Cass Corey Dale Devon Ember Emerson Flynn Greer Hollis Jody Jude Kerry Lark Leslie Marley
Micah Nico Onyx Pax Perry Reed Rory Rune Sunny Teagan Terry Tracy Vesper Yael Ainsley Alexis Arin
Bo Cedar Cruz Darcy Ellery Fern Gray Haven Hart Ira Jaden Jessie Joss Keegan Lior Lux Nova Pat
Phoenix Rio Rumi Sol Tam Tobi Umi Vale Wynn Adair Bevan Carys Dallas Ellison Frost Hadley Jory
Aspen Bellamy Calloway Dorian Everly Fallon Garnet Harlow Isley Jessamy Kestrel Landry Merritt
Niven Orrin Piper Quillan Ridley Sawyer Tamsin Ulani Vaughn Wilder Yarrow Zuri Alder Bexley Colby
Delaney Easton Fable Greyson Huxley Indy Jensen Kinsley Lowell Maddox Nevada Oakes Presley Reilly
""")

# Pronoun sets: subject, object, possessive, reflexive and the matching past form of "to be".
PRONOUNS: dict[str, dict[str, str]] = {
    "she": {"he": "she", "him": "her", "his": "her", "self": "herself", "was": "was"},
    "he": {"he": "he", "him": "him", "his": "his", "self": "himself", "was": "was"},
    "they": {"he": "they", "him": "them", "his": "their", "self": "themself", "was": "were"},
}

TRAITS = _words("""
brave kind clever shy curious gentle stubborn cheerful patient honest bold bright calm careful
caring daring eager friendly funny generous helpful humble jolly lively loyal modest noisy playful
polite proud quiet quick sensible serious silly sleepy smart sweet thoughtful tidy wise witty
adventurous ambitious bashful busy chatty clumsy cautious dreamy energetic fearless fussy grumpy
hardworking hopeful imaginative inventive lazy nimble optimistic organized restless resourceful
sharp sly spirited steady strong tireless trusting upbeat valiant warm wild artistic bouncy
carefree charming cheeky creative cunning determined diligent easygoing faithful fierce forgetful
gallant giggly graceful gruff headstrong hearty impatient independent inquisitive kindhearted meek
merry mischievous neat observant outgoing peaceful plucky practical quirky reliable sensitive
shrewd sincere spunky stern studious talkative tender timid tough trustworthy unselfish vain
watchful whimsical youthful cheery courteous dutiful earnest frank goofy humorous jovial keen
mellow nosy perky prim rowdy sassy snappy sprightly stoic sturdy thrifty wary zany
affectionate boisterous brainy bubbly candid capable cheerless cooperative courageous crafty dainty
dapper decent devoted docile droll dynamic eloquent enthusiastic fanciful feisty fidgety flexible
gentlemanly gifted gracious gregarious hasty heroic humane idealistic industrious jaunty jumpy
knowledgeable lighthearted logical loving lucky mannerly methodical mindful musical nervy noble
obliging orderly passionate persistent pensive poised punctual quizzical rational resilient
respectful romantic rugged sociable spontaneous steadfast stylish sympathetic tactful tenacious
thorough trusty unflappable upright vigilant virtuous vivacious wholesome zestful
""")

# Kinds of creature. Gendered nouns fix the pronoun; the others fit any pronoun set.
KINDS_SHE = _words("girl woman princess queen lady maiden duchess")
KINDS_HE = _words("boy man prince king gentleman lad duke")
KINDS_ANY = _words("""
child kid traveler farmer baker sailor fisher painter potter weaver tailor carpenter blacksmith
shepherd gardener miller musician poet teacher doctor nurse pilot inventor scientist explorer
knight wizard witch ranger merchant cook builder student writer dancer singer drummer juggler
clown mapmaker beekeeper librarian clockmaker glassblower woodcutter astronomer botanist
firefighter mechanic jeweler shopkeeper innkeeper beachcomber storyteller puppeteer acrobat
fox rabbit owl bear badger mouse hedgehog squirrel otter beaver raccoon deer wolf cat dog puppy
kitten duck goose frog toad turtle tortoise lizard dragon unicorn penguin seal goat sheep lamb pig
piglet pony horse donkey mole crow raven robin sparrow parrot panda koala lion tiger elephant
giraffe monkey hamster ferret weasel bat snail crab dolphin walrus moose llama camel kangaroo
zebra hippo rhino heron stork pelican swan magpie chipmunk gerbil lobster octopus
sculptor tinker locksmith cobbler harpist fiddler falconer ferryman lamplighter gondolier chemist
architect carpenter geologist illustrator violinist cellist saddler stonemason thatcher cartographer
watchmaker toymaker candlemaker ropemaker shipwright herbalist apothecary alchemist
badger bison cheetah coyote cricket dormouse eagle falcon flamingo gazelle gopher hare ibex jackal
lemur lynx marmot meerkat mongoose newt ostrich otter panther peacock porcupine puffin quail
salamander skunk sloth squid stoat swallow tapir toucan vulture wombat woodpecker yak
""")

RELATIVES = _words("""
grandmother grandfather grandma grandpa aunt uncle cousin neighbor teacher mother father sister
brother godmother godfather nanny mentor
""")

# Words that take "an" although they start with a consonant, and "a" although they start with a vowel.
AN_EXCEPTIONS = frozenset({"honest", "hour", "hourglass", "heir", "honor", "honorable"})
A_EXCEPTIONS = frozenset({"unicorn", "useful", "uniform", "one", "university", "unique", "user", "usual", "ukulele"})
