//! A default corpus for character-level language models, generated deterministically from a
//! seeded probabilistic grammar of English-like sentences.
//!
//! Source: this crate's own grammar (no copyrighted text). The vocabulary is real English
//! (about 80 nouns with their plurals, 50 verbs with their inflections, 60 adjectives, adverbs,
//! prepositions, names); sentences follow a small phrase-structure grammar with
//! subject–verb agreement, a tense chosen per sentence, `a`/`an` before vowels, nested
//! prepositional phrases, coordinated and subordinate clauses, questions and quoted speech.
//! Each paragraph draws most of its nouns from a small "cast" chosen at its start, so words
//! recur within a paragraph. Paragraphs are word-wrapped at 72 columns and separated by a
//! blank line. [`default_corpus`] is the text for seed [`DEFAULT_SEED`], at least
//! [`DEFAULT_MIN_BYTES`] bytes long; the same seed always yields the same text (for a fixed
//! version of `rand`'s `ChaCha8Rng`).

use recurrent::rand::rngs::ChaCha8Rng;
use recurrent::rand::{RngExt, SeedableRng};

/// Seed of [`default_corpus`].
pub const DEFAULT_SEED: u64 = 1997;
/// Minimum length of [`default_corpus`] in bytes.
pub const DEFAULT_MIN_BYTES: usize = 64 * 1024;
/// Column at which paragraphs are wrapped.
pub const WRAP: usize = 72;

/// (singular, plural)
const NOUNS: &[(&str, &str)] = &[
    ("river", "rivers"),
    ("child", "children"),
    ("city", "cities"),
    ("box", "boxes"),
    ("garden", "gardens"),
    ("teacher", "teachers"),
    ("window", "windows"),
    ("horse", "horses"),
    ("letter", "letters"),
    ("mountain", "mountains"),
    ("bridge", "bridges"),
    ("farmer", "farmers"),
    ("lamp", "lamps"),
    ("road", "roads"),
    ("bird", "birds"),
    ("stone", "stones"),
    ("woman", "women"),
    ("man", "men"),
    ("baker", "bakers"),
    ("ship", "ships"),
    ("island", "islands"),
    ("forest", "forests"),
    ("clock", "clocks"),
    ("map", "maps"),
    ("village", "villages"),
    ("doctor", "doctors"),
    ("apple", "apples"),
    ("story", "stories"),
    ("song", "songs"),
    ("door", "doors"),
    ("table", "tables"),
    ("candle", "candles"),
    ("wolf", "wolves"),
    ("knife", "knives"),
    ("leaf", "leaves"),
    ("mouse", "mice"),
    ("sailor", "sailors"),
    ("engineer", "engineers"),
    ("machine", "machines"),
    ("wheel", "wheels"),
    ("field", "fields"),
    ("cloud", "clouds"),
    ("valley", "valleys"),
    ("key", "keys"),
    ("painter", "painters"),
    ("picture", "pictures"),
    ("market", "markets"),
    ("coin", "coins"),
    ("owl", "owls"),
    ("eagle", "eagles"),
    ("orchard", "orchards"),
    ("umbrella", "umbrellas"),
    ("hour", "hours"),
    ("idea", "ideas"),
    ("engine", "engines"),
    ("oven", "ovens"),
    ("student", "students"),
    ("book", "books"),
    ("library", "libraries"),
    ("tower", "towers"),
    ("train", "trains"),
    ("station", "stations"),
    ("fox", "foxes"),
    ("dog", "dogs"),
    ("cat", "cats"),
    ("boat", "boats"),
    ("lake", "lakes"),
    ("hill", "hills"),
    ("kitchen", "kitchens"),
    ("basket", "baskets"),
    ("shepherd", "shepherds"),
    ("sheep", "sheep"),
    ("merchant", "merchants"),
    ("wagon", "wagons"),
    ("signal", "signals"),
    ("question", "questions"),
    ("answer", "answers"),
    ("neighbour", "neighbours"),
    ("friend", "friends"),
    ("street", "streets"),
];

/// Nouns that are animate (can see, think, say).
const ANIMATE: &[&str] = &[
    "child",
    "teacher",
    "horse",
    "farmer",
    "bird",
    "woman",
    "man",
    "baker",
    "doctor",
    "wolf",
    "mouse",
    "sailor",
    "engineer",
    "painter",
    "owl",
    "eagle",
    "student",
    "fox",
    "dog",
    "cat",
    "shepherd",
    "sheep",
    "merchant",
    "neighbour",
    "friend",
];

/// (base, third person singular, past)
const TRANSITIVE: &[(&str, &str, &str)] = &[
    ("see", "sees", "saw"),
    ("carry", "carries", "carried"),
    ("find", "finds", "found"),
    ("follow", "follows", "followed"),
    ("paint", "paints", "painted"),
    ("build", "builds", "built"),
    ("watch", "watches", "watched"),
    ("open", "opens", "opened"),
    ("close", "closes", "closed"),
    ("remember", "remembers", "remembered"),
    ("forget", "forgets", "forgot"),
    ("describe", "describes", "described"),
    ("repair", "repairs", "repaired"),
    ("visit", "visits", "visited"),
    ("count", "counts", "counted"),
    ("push", "pushes", "pushed"),
    ("pull", "pulls", "pulled"),
    ("hold", "holds", "held"),
    ("lose", "loses", "lost"),
    ("bring", "brings", "brought"),
    ("read", "reads", "read"),
    ("write", "writes", "wrote"),
    ("draw", "draws", "drew"),
    ("hide", "hides", "hid"),
    ("notice", "notices", "noticed"),
    ("admire", "admires", "admired"),
    ("sell", "sells", "sold"),
    ("buy", "buys", "bought"),
    ("measure", "measures", "measured"),
    ("study", "studies", "studied"),
];

/// (base, third person singular, past)
const INTRANSITIVE: &[(&str, &str, &str)] = &[
    ("sleep", "sleeps", "slept"),
    ("wait", "waits", "waited"),
    ("sing", "sings", "sang"),
    ("laugh", "laughs", "laughed"),
    ("run", "runs", "ran"),
    ("walk", "walks", "walked"),
    ("rest", "rests", "rested"),
    ("listen", "listens", "listened"),
    ("work", "works", "worked"),
    ("wander", "wanders", "wandered"),
    ("arrive", "arrives", "arrived"),
    ("disappear", "disappears", "disappeared"),
    ("shine", "shines", "shone"),
    ("tremble", "trembles", "trembled"),
    ("fall", "falls", "fell"),
    ("rise", "rises", "rose"),
    ("turn", "turns", "turned"),
    ("stop", "stops", "stopped"),
    ("return", "returns", "returned"),
    ("whisper", "whispers", "whispered"),
];

/// (base, third person singular, past) of verbs taking a clause: "X thinks that ...".
const SAYING: &[(&str, &str, &str)] = &[
    ("think", "thinks", "thought"),
    ("say", "says", "said"),
    ("know", "knows", "knew"),
    ("believe", "believes", "believed"),
    ("hope", "hopes", "hoped"),
    ("dream", "dreams", "dreamed"),
];

const ADJECTIVES: &[&str] = &[
    "old", "young", "quiet", "bright", "dark", "small", "large", "green", "blue", "red", "yellow",
    "grey", "white", "black", "heavy", "light", "careful", "curious", "gentle", "strange",
    "ancient", "narrow", "wide", "tall", "short", "warm", "cold", "wet", "dry", "tired", "patient",
    "clever", "silent", "noisy", "empty", "busy", "golden", "wooden", "iron", "distant", "hidden",
    "broken", "simple", "honest", "proud", "calm", "early", "late", "round", "square", "sharp",
    "soft", "open", "little", "famous", "humble", "endless", "orange", "eager", "lucky",
];

const ADVERBS: &[&str] = &[
    "slowly",
    "quickly",
    "quietly",
    "carefully",
    "happily",
    "suddenly",
    "often",
    "rarely",
    "again",
    "together",
    "alone",
    "early",
    "late",
    "patiently",
    "gladly",
    "softly",
    "loudly",
    "calmly",
    "eagerly",
    "silently",
];

const PREPOSITIONS: &[&str] = &[
    "in", "on", "under", "near", "behind", "beside", "across", "through", "along", "above",
    "below", "beyond", "inside", "around", "past", "towards",
];

const NAMES: &[&str] = &[
    "Anna", "Tomas", "Mira", "Jonas", "Elena", "Hugo", "Lena", "Oskar", "Nadia", "Felix", "Ida",
    "Paul", "Clara", "Victor", "Greta", "Samuel", "Rosa", "Emil", "Vera", "Arthur",
];

const TIME_PHRASES: &[&str] = &[
    "in the morning",
    "at noon",
    "in the evening",
    "at night",
    "before dawn",
    "after the rain",
    "in the spring",
    "in the winter",
    "on a Sunday",
    "every day",
    "long ago",
    "that summer",
];

const CONJUNCTIONS: &[&str] = &["and", "but", "so", "while", "because", "although"];

/// Generates English-like paragraphs until the text is at least `min_bytes` long.
pub fn generate(rng: &mut impl RngExt, min_bytes: usize) -> String {
    let mut text = String::with_capacity(min_bytes + 1024);
    while text.len() < min_bytes {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let paragraph = Paragraph::new(rng).write(rng);
        text.push_str(&wrap(&paragraph, WRAP));
    }
    text.push('\n');
    text
}

/// The default corpus: [`generate`] with `ChaCha8Rng::seed_from_u64(DEFAULT_SEED)` and
/// [`DEFAULT_MIN_BYTES`].
pub fn default_corpus() -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(DEFAULT_SEED);
    generate(&mut rng, DEFAULT_MIN_BYTES)
}

/// Splits `text` into `(train, validation)` with about `train_fraction` of the bytes in the
/// first part, cut at a paragraph boundary (or a character boundary if there is none).
pub fn split(text: &str, train_fraction: f64) -> (&str, &str) {
    let target = ((text.len() as f64) * train_fraction.clamp(0.0, 1.0)) as usize;
    let cut = text[..target]
        .rfind("\n\n")
        .map(|i| i + 2)
        .unwrap_or_else(|| {
            (0..=target)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0)
        });
    text.split_at(cut)
}

/// Entropy of the character (Unicode scalar) distribution of `text` in bits per character:
/// `-sum_c p(c) log2 p(c)`. This is the cross-entropy of the best context-free (unigram)
/// model; a character-level language model should get well below it.
pub fn unigram_entropy_bits(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, usize>::new();
    let mut total = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Greedy word wrap at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width + 1);
    let mut line_len = 0;
    for word in text.split(' ') {
        if line_len > 0 && line_len + 1 + word.len() > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

fn pick<T: Copy>(rng: &mut impl RngExt, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn article(next_word: &str) -> &'static str {
    if next_word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Tense {
    Present,
    Past,
}

/// A noun phrase with the grammatical number of its head.
struct Np {
    text: String,
    plural: bool,
}

/// The recurring nouns and names of one paragraph, and its tense.
struct Paragraph {
    cast: Vec<usize>,
    animate_cast: Vec<usize>,
    name: &'static str,
    tense: Tense,
}

impl Paragraph {
    fn new(rng: &mut impl RngExt) -> Self {
        let cast: Vec<usize> = (0..4).map(|_| rng.random_range(0..NOUNS.len())).collect();
        let animate: Vec<usize> = (0..NOUNS.len())
            .filter(|&i| ANIMATE.contains(&NOUNS[i].0))
            .collect();
        let animate_cast = (0..2).map(|_| pick(rng, &animate)).collect();
        Paragraph {
            cast,
            animate_cast,
            name: pick(rng, NAMES),
            tense: if rng.random_bool(0.6) {
                Tense::Past
            } else {
                Tense::Present
            },
        }
    }

    fn write(&self, rng: &mut impl RngExt) -> String {
        let n = rng.random_range(3..=7);
        let sentences: Vec<String> = (0..n).map(|_| self.sentence(rng)).collect();
        sentences.join(" ")
    }

    fn noun(&self, rng: &mut impl RngExt, animate: bool) -> (&'static str, &'static str) {
        let idx = if animate {
            if rng.random_bool(0.7) {
                pick(rng, &self.animate_cast)
            } else {
                loop {
                    let i = rng.random_range(0..NOUNS.len());
                    if ANIMATE.contains(&NOUNS[i].0) {
                        break i;
                    }
                }
            }
        } else if rng.random_bool(0.6) {
            pick(rng, &self.cast)
        } else {
            rng.random_range(0..NOUNS.len())
        };
        NOUNS[idx]
    }

    fn np(&self, rng: &mut impl RngExt, animate: bool, depth: usize) -> Np {
        if animate && rng.random_bool(0.2) {
            return Np {
                text: self.name.to_string(),
                plural: false,
            };
        }
        let plural = rng.random_bool(0.3);
        let (sg, pl) = self.noun(rng, animate);
        let head = if plural { pl } else { sg };
        let mut words: Vec<&str> = Vec::new();
        let n_adj = match rng.random_range(0..10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        while words.len() < n_adj {
            let adj = pick(rng, ADJECTIVES);
            if !words.contains(&adj) {
                words.push(adj);
            }
        }
        words.push(head);
        let rest = words.join(" ");
        let det = if plural {
            pick(
                rng,
                &[
                    "the", "the", "some", "these", "those", "many", "few", "two", "three",
                ],
            )
        } else {
            match rng.random_range(0..10) {
                0..=4 => "the",
                5..=7 => article(&rest),
                8 => "this",
                _ => "every",
            }
        };
        let mut text = format!("{det} {rest}");
        if depth < 2 && rng.random_bool(0.25) {
            let pp = self.np(rng, false, depth + 1);
            text = format!("{text} {} {}", pick(rng, PREPOSITIONS), pp.text);
        }
        Np { text, plural }
    }

    fn verb(
        &self,
        forms: (&'static str, &'static str, &'static str),
        plural: bool,
    ) -> &'static str {
        let (base, third, past) = forms;
        match self.tense {
            Tense::Past => past,
            Tense::Present if plural => base,
            Tense::Present => third,
        }
    }

    fn be(&self, plural: bool) -> &'static str {
        match (self.tense, plural) {
            (Tense::Past, false) => "was",
            (Tense::Past, true) => "were",
            (Tense::Present, false) => "is",
            (Tense::Present, true) => "are",
        }
    }

    fn clause(&self, rng: &mut impl RngExt, depth: usize) -> String {
        match rng.random_range(0..10) {
            0..=3 => {
                let subj = self.np(rng, true, 0);
                let obj = self.np(rng, false, 0);
                let verb = self.verb(pick(rng, TRANSITIVE), subj.plural);
                let mut s = format!("{} {verb} {}", subj.text, obj.text);
                if rng.random_bool(0.3) {
                    s = format!("{s} {}", pick(rng, ADVERBS));
                }
                s
            }
            4..=5 => {
                let subj = self.np(rng, true, 0);
                let verb = self.verb(pick(rng, INTRANSITIVE), subj.plural);
                if rng.random_bool(0.5) {
                    let place = self.np(rng, false, 1);
                    format!(
                        "{} {verb} {} {}",
                        subj.text,
                        pick(rng, PREPOSITIONS),
                        place.text
                    )
                } else {
                    format!("{} {verb} {}", subj.text, pick(rng, ADVERBS))
                }
            }
            6..=7 => {
                let subj = self.np(rng, false, 0);
                let adj = pick(rng, ADJECTIVES);
                let be = self.be(subj.plural);
                if rng.random_bool(0.3) {
                    format!("{} {be} {adj} {}", subj.text, pick(rng, TIME_PHRASES))
                } else {
                    format!("{} {be} {adj}", subj.text)
                }
            }
            _ if depth == 0 => {
                let subj = self.np(rng, true, 0);
                let verb = self.verb(pick(rng, SAYING), subj.plural);
                format!("{} {verb} that {}", subj.text, self.clause(rng, depth + 1))
            }
            _ => {
                let subj = self.np(rng, false, 0);
                format!(
                    "{} {} {}",
                    subj.text,
                    self.be(subj.plural),
                    pick(rng, ADJECTIVES)
                )
            }
        }
    }

    fn sentence(&self, rng: &mut impl RngExt) -> String {
        match rng.random_range(0..20) {
            0..=8 => format!("{}.", capitalize(&self.clause(rng, 0))),
            9..=11 => format!(
                "{}, {} {}.",
                capitalize(&self.clause(rng, 0)),
                pick(rng, CONJUNCTIONS),
                self.clause(rng, 1)
            ),
            12..=13 => format!(
                "{}, {}.",
                capitalize(pick(rng, TIME_PHRASES)),
                self.clause(rng, 0)
            ),
            14..=15 => format!("When {}, {}.", self.clause(rng, 1), self.clause(rng, 1)),
            16..=17 => {
                let subj = self.np(rng, true, 0);
                let obj = self.np(rng, false, 0);
                let (base, _, _) = pick(rng, TRANSITIVE);
                let aux = match (self.tense, subj.plural) {
                    (Tense::Past, _) => "Did",
                    (Tense::Present, true) => "Do",
                    (Tense::Present, false) => "Does",
                };
                format!("{aux} {} {base} {}?", subj.text, obj.text)
            }
            _ => {
                let speaker = self.np(rng, true, 0);
                let said = match self.tense {
                    Tense::Past => "said",
                    Tense::Present if speaker.plural => "say",
                    Tense::Present => "says",
                };
                let quote = self.clause(rng, 1);
                format!("\"{},\" {said} {}.", capitalize(&quote), speaker.text)
            }
        }
    }
}
