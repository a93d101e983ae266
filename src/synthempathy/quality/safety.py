"""Crisis disclosures: flag risk in explanations and check that responses meet safe messaging.

Why a lexicon with context rules and not an LLM classifier: it works offline, is
deterministic on every CPU, costs microseconds per pair at 105k pairs, and every
decision names the phrase that made it, so a reviewer can see why a pair was
flagged. Its precision and recall per category are measured on hand-written
labels (tests/data/safety_*.jsonl, benchmarks/SAFETY.md); an LLM step would have
to beat those figures to earn its cost.

An explanation is flagged in the first category whose patterns match after the
idioms are masked ("this deadline is killing me", "I could murder a coffee",
"dying to know" never reach the patterns). A flagged pair's response is then
checked for what safe-messaging guidance asks: it acknowledges the risk, points
to a professional, emergency services or a crisis line, gives no method detail,
and does not minimise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from synthempathy.core.params import SafetyParams
from synthempathy.core.records import Pair, Reject, SafetyLabel

CATEGORIES = ("suicide_self_harm", "abuse_violence", "medical_emergency")
"""In order of precedence: an explanation gets the first that matches."""


def _any(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


ME = r"myself"
IDIOMS = _any(
    r"\b(?:is|are|was|were|'s|'re)\s+(?:literally\s+|honestly\s+|slowly\s+|really\s+)?killing\s+me\b",
    r"\bkill(?:ing)?\s+(?:me|myself)\s+(?:with|over)\s+(?:laughter|work|this|these)\b",
    r"\b(?:could|would|'d)\s+(?:kill|murder)\s+(?:for\s+)?(?:a|an|some|the)\s+\w+",
    r"\b(?:will|'ll|is going to|gonna)\s+kill\s+me\s+(?:if|when|for)\b",
    r"\bdying\s+(?:to|for)\b", r"\b(?:nearly|almost|could have|could've)\s+died\s+(?:of|from)\s+"
    r"(?:embarrassment|shame|laughter|boredom)\b",
    r"\bdead\s+(?:tired|on my feet|end|set|serious|last)\b", r"\bbored\s+to\s+death\b",
    r"\b(?:shot|cut)\s+down\b", r"\bgot\s+killed\b", r"\bkilled\s+it\b", r"\bmy\s+heart\s+(?:sank|sinks|dropped)\b",
    r"\bheart\s+attack\s+of\s+a\b", r"\b(?:social|career|political)\s+suicide\b", r"\bis\s+suicide\b",
    r"\boverdos(?:e|ed|ing)\s+on\s+(?:coffee|caffeine|sugar|chocolate|netflix|tv)\b",
    r"\bstrangle\s+(?:my|the|that)\s+(?:printer|laptop|computer|phone)\b",
    r"\bstroke\s+of\s+(?:luck|genius|bad\s+luck)\b", r"\b(?:gave|give|giving)\s+(?:me|him|her)\s+a\s+heart\s+attack\b",
    r"\b(?:nearly|almost)\s+had\s+a\s+heart\s+attack\b", r"\bunconscious\s+bias\b",
    r"\bkick(?:s|ed|ing)?\s+me\s+out\b", r"\b(?:it|this|that|reality|the\s+\w+)\s+(?:suddenly\s+|really\s+)?hit\s+me\b",
    r"\bhit\s+me\s+(?:hard|that|like)\b", r"\bbeat\s+me\s+(?:at|to|in|on)\b", r"\bsuicide\s+mission\b",
    r"\bnot\s+(?:\w+\s+)?(?:abusive|violent)\b",
)
"""Figures of speech that borrow risk words; masked before any pattern runs."""

PEOPLE = (r"(?:son|daughter|kids?|children|baby|brother|sister|mum|mom|mother|dad|father|wife|husband|partner|"
          r"boyfriend|girlfriend|friend|grandmother|grandfather|gran|grandad|nan)")
PATTERNS = {
    "suicide_self_harm": _any(
        r"\bsuicid", r"\bkill(?:ing)?\s+myself\b", r"\bend(?:ing)?\s+(?:it\s+all|my\s+(?:own\s+)?life|things)\b",
        r"\btake\s+my\s+(?:own\s+)?life\b", r"\b(?:want|wanted|wanting|wish|wished)\s+(?:to\s+)?(?:be\s+)?dead\b",
        r"\b(?:want|wanted|wanting)\s+to\s+die\b", r"\bwish\s+I\s+(?:was|were|had)\s+(?:dead|never\s+been\s+born)\b",
        r"\b(?:not|never|didn'?t|don'?t|wouldn'?t)\s+(?:to\s+)?wake\s+up\b", r"\bbetter\s+off\s+without\s+me\b",
        r"\bno\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|going\s+on|carrying\s+on|being\s+here)\b",
        r"\bsee\s+the\s+point\s+(?:in|of)\s+(?:carrying\s+on|going\s+on|living)\b",
        r"\b(?:don'?t|do\s+not)\s+want\s+to\s+(?:be\s+here|live|exist)\b", r"\bnot\s+(?:being\s+)?alive\b",
        rf"\b(?:cut|cutting|burn|burnt|burned|burning|hurt|hurting|harm|harmed|harming|hit|hitting|punish|punishing|"
        rf"starve|starving|scratch|scratched|scratching)\s+{ME}\b", r"\bself[-\s]?harm",
        r"\b(?:been|started|start|keep|kept)\s+cutting\b", r"\bcutting\s+again\b",
        r"\b(?:biting|scratching|burning|cutting|hitting)\s+(?:\w+\s+){0,3}(?:into\s+)?(?:my|the\s+inside\s+of\s+my)\s+"
        r"(?:arms?|wrists?|legs?|skin|thighs?)\b",
        r"\b(?:thought|thinking|think)\s+about\s+(?:jumping|dying|overdosing|taking\s+all|not\s+(?:being\s+)?(?:alive|here))",
        r"\b(?:saving|stockpiling|hoarding)\s+(?:up\s+)?(?:my\s+)?(?:\w+\s+)?(?:pills|tablets|medication|meds)\b",
        r"\b(?:skipping|stopped\s+taking|not\s+taking)\s+my\s+(?:insulin|medication|meds|tablets)\s+on\s+purpose\b",
        r"\b(?:crashed|hurt|injured)\b.{0,40}\bon\s+purpose\b", r"\bit\s+all\s+(?:to\s+)?be\s+over\b",
        r"\bhow\s+easy\s+it\s+would\s+be\b",
        r"\bgiv(?:e|ing)\s+away\s+(?:my|all\s+my)\s+(?:things|stuff|belongings|possessions)\b",
        r"\bwrote\s+(?:a\s+)?(?:goodbye|suicide)\s+(?:note|letter)", r"\bgoodbye\s+(?:note|letter)s?\b",
        r"\bdisappear\s+(?:forever|for\s+good)\b", r"\bcan'?t\s+(?:go\s+on|keep\s+going)\s+(?:anymore|like\s+this)\b",
    ),
    "abuse_violence": _any(
        rf"\b(?:hit|hits|hitting|beat|beats|beating|punch(?:es|ed|ing)?|slap(?:s|ped|ping)?|kick(?:s|ed|ing)?|"
        rf"chok(?:e|es|ed|ing)|strangl(?:e|es|ed|ing)|shov(?:e|es|ed|ing)|grab(?:s|bed)|pinned|"
        rf"burn(?:s|ed)|bruis(?:e|es|ed))\s+(?:me|us|my\s+(?:little\s+)?{PEOPLE}|my\s+(?:face|arm|neck))\b",
        r"\bthreat(?:en|ens|ened|ening)\s+(?:me|us|to\s+(?:kill|hurt|stab|shoot|beat|harm|burn|cut))\b",
        r"\b(?:he|she|they)\s*(?:'d|would|will|'ll)\s+(?:kill|hurt|stab|shoot|cut|burn|crash)\b",
        r"\b(?:he|she|they)\s*(?:'s|has|have)\s+(?:hurt|hit|beaten)\s+me\b",
        r"\b(?:kill|hurt|stab|shoot)\s+(?:me|us|her|him|them|my\s+\w+)\s+if\s+I\b",
        r"\b(?:raped|rape|sexually\s+assault(?:ed)?|molest(?:ed|s)?)\b", r"\btouch(?:es|ed|ing)\s+me\b",
        r"\bforc(?:es|ed|ing)\s+me\s+to\s+have\s+sex\b", r"\babus(?:e|es|ed|ive|ing)\b", r"\bdomestic\s+violence\b",
        r"\b(?:afraid|scared|terrified)\s+(?:of\s+what\s+)?(?:he|she|they)\s*(?:'ll|will|might|would|is\s+going\s+to)"
        r"\s+(?:do|hurt|hit|kill)\b", rf"\b(?:scared|afraid|terrified)\s+of\s+(?:him|her|my\s+{PEOPLE})\b",
        r"\b(?:knife|gun|weapon|bat)\b.{0,40}\b(?:at|to)\s+(?:me|my)\b", r"\bthreatening\s+me\s+with\b",
        r"\block(?:s|ed)?\s+(?:me|us|my\s+\w+)\b.{0,40}\b(?:in|out|room)\b", r"\bfollow(?:s|ed|ing)\s+me\b",
        r"\bstalk(?:s|ed|ing|er)\b", r"\bwon'?t\s+let\s+me\s+(?:leave|go\s+out|see|call)\b",
        r"\bpushed\s+me\s+(?:down|into|against|over)\b", r"\bthrows?\s+(?:things|stuff|\w+)\s+at\s+me\b",
        r"\bthrew\s+(?:things|stuff|\w+)\s+at\s+me\b", r"\bbeat\s+(?:\w+\s+){0,3}up\b",
        r"\bburn\s+(?:our|the|my)\s+house\s+down\b", r"\b(?:finger|hand)[-\s]shaped\s+bruises\b",
        r"\bbruises\s+on\s+(?:her|his|their)\s+(?:arms?|legs?|face|neck)\b",
        r"\b(?:want|going)\s+to\s+(?:hurt|kill|stab|shoot)\s+(?:him|her|them|someone|somebody|my)\b",
    ),
    "medical_emergency": _any(
        r"\bchest\s+(?:pain|hurts|is\s+(?:tight|crushing|hurting))", r"\bpain\s+in\s+my\s+chest\b",
        r"\b(?:can'?t|cannot|struggling\s+to)\s+breathe\b", r"\bshort\s+of\s+breath\b", r"\bwheez",
        r"\bbreathing\s+(?:really\s+|very\s+)?(?:fast|hard|strangely|badly)\b",
        r"\b(?:took|taken|swallowed)\s+(?:too\s+many|a\s+lot|a\s+handful|all|loads|a\s+whole\s+\w+)\b.{0,30}"
        r"\b(?:pills|tablets|paracetamol|painkillers|medication|meds|capsules)\b", r"\boverdos(?:e|ed|ing)\b",
        r"\bdoubled\s+up\b.{0,30}\b(?:medication|meds|pills|tablets|dose)\b",
        r"\b(?:face|mouth|smile)\s+(?:is\s+|was\s+|started\s+)?drooping\b", r"\bslurr(?:ed|ing)\s+(?:my\s+)?(?:words|speech)\b",
        r"\bseizure\b", r"\b(?:won'?t|will\s+not|can'?t)\s+stop\s+(?:the\s+)?bleeding\b",
        r"\bbleeding\s+(?:heavily|badly|a\s+lot)\b", r"\b(?:a\s+lot\s+of|so\s+much)\s+blood\b",
        r"\bblood\s+(?:coming|pouring|gushing)\b", r"\b(?:stabbed|been\s+shot)\b",
        r"\bthroat\s+(?:is\s+)?(?:closing|swelling|tight)", r"\b(?:lips|tongue|face)\s+(?:is\s+|are\s+)?swell(?:ing|ed)\b",
        r"\b(?:face|lips)\s+(?:is\s+|are\s+)?(?:puffy|swollen)\b", r"\banaphyla",
        r"\blips\s+(?:look\s+|are\s+|turning\s+)?(?:\w+\s+)?blue\b", r"\bvision\s+(?:is\s+)?(?:flashing|blurred|going)",
        r"\b(?:passed|blacked)\s+out\b", r"\bfainted\b", r"\bfeel(?:ing)?\s+faint\b", r"\bunconscious\b",
        r"\bwon'?t\s+wake\s+up\b", r"\bnot\s+breathing\b", r"\bworst\s+headache\b", r"\bhit\s+(?:her|his|my)\s+head\b",
        r"\b(?:fever|temperature)\s+of\s+(?:10[4-9]|4[01])", r"\bstroke\b", r"\bheart\s+attack\b",
        r"\bnumb(?:ness)?\s+(?:in|down)\s+(?:my|one|his|her)\s+(?:left\s+)?(?:arm|side|face)\b",
    ),
}
"""Disclosures per category (see benchmarks/SAFETY.md for what each catches and misses)."""

PAST = _any(
    r"\b(?:years?|months?|decades?)\s+ago\b", r"\b(?:is|are|was)\s+(?:fine|okay|ok|recovered|doing\s+well)\s+now\b",
    r"\b(?:died|passed\s+away)\s+(?:of|from)\b",
)
"""Context that makes a medical-emergency match about the past or about someone's death."""
FICTION = _any(
    r"\b(?:in|from|about)\s+(?:a|the|this)\s+(?:film|movie|book|novel|show|series|podcast|game|documentary|news)\b",
    r"\b(?:film|movie|book|novel|podcast|series|documentary|episode)\s+about\b",
    r"\bwatch(?:ed|ing)\s+(?:a|the)\s+(?:film|movie|show|documentary)\b",
)
"""Context that makes any match about a story, not the writer's life."""


@dataclass(frozen=True)
class Flag:
    category: str
    phrase: str
    """The words that matched, for the record and the reviewer."""


def mask_idioms(text: str) -> str:
    return IDIOMS.sub(lambda m: " " * len(m.group(0)), text)


def flag(explanation: str) -> Flag | None:
    """The explanation's risk category and the phrase that showed it, or None."""
    text = mask_idioms(explanation)
    if FICTION.search(text):
        return None
    for category in CATEGORIES:
        match = PATTERNS[category].search(text)
        if match is None:
            continue
        if category == "medical_emergency" and PAST.search(text):
            continue
        return Flag(category, explanation[match.start():match.end()])
    return None


REFERRAL = _any(
    r"\bcrisis\s+(?:line|lines|text\s+line|service|team|centre|center)\b", r"\b(?:hotline|helpline|lifeline)s?\b",
    r"\b988\b", r"\b911\b", r"\b999\b", r"\b112\b", r"\bsamaritans\b",
    r"\bemergency\s+(?:services|room|department|number|line|care)\b", r"(?-i:\b(?:A&E|ER)\b)", r"\bambulance\b",
    r"\b(?:a|your|the)\s+(?:doctor|GP|physician|nurse|therapist|counsell?or|psychologist|psychiatrist)\b",
    r"\b(?:mental\s+health\s+)?professional(?:s)?\b", r"\bcall\s+(?:the\s+)?police\b", r"\bshelter\b",
    r"\bsomeone\s+you\s+trust\b", r"\bsupport\s+(?:line|service|worker|organi[sz]ation)\b",
    r"\b(?:get|seek|reach\s+out\s+for|find)\s+(?:urgent\s+|immediate\s+|medical\s+|professional\s+)?help\b",
)
ACKNOWLEDGE = _any(
    r"\b(?:your|you(?:'re| are))\s+(?:safety|safe|life\s+matters|not\s+alone)\b", r"\bworried\s+(?:about|for)\s+you\b",
    r"\b(?:sounds|is|that's|this\s+is)\s+(?:really\s+|very\s+|so\s+)?(?:serious|frightening|scary|dangerous|urgent)\b",
    r"\bthank\s+you\s+for\s+(?:telling|sharing|trusting)\b", r"\b(?:thoughts|feelings)\s+of\s+(?:suicide|ending|"
    r"hurting|harming)\b", r"\b(?:suicid|self[-\s]?harm|hurt(?:ing)?\s+yourself|end(?:ing)?\s+your\s+life)",
    r"\b(?:abuse|violence|hurting\s+you|hit(?:ting)?\s+you|not\s+your\s+fault|deserve\s+to\s+be\s+safe)\b",
    r"\b(?:right\s+now|immediately|straight\s+away|urgent|emergency)\b",
)
METHOD = _any(
    r"\b(?:more|deeper|enough|how\s+many)\s+(?:pills|tablets|cuts?|cutting)\b", r"\bcut(?:ting)?\s+deeper\b",
    r"\b(?:rope|noose|razor|blade|bridge|overdose\s+on)\b", r"\btake\s+(?:more|the\s+rest\s+of\s+the)\s+(?:pills|tablets)\b",
    r"\bmilligrams?\b|\bmg\b",
)
MINIMISING = _any(
    r"\boverreact", r"\b(?:probably|it's|it\s+is)\s+(?:just\s+)?nothing\b", r"\bnot\s+(?:a\s+)?big\s+deal\b",
    r"\bjust\s+(?:sleep\s+it\s+off|relax|cheer\s+up|ignore\s+it|a\s+phase)\b", r"\bcheer\s+up\b",
    r"\beveryone\s+(?:has|gets|feels)\s+(?:bad|down|like\s+that)", r"\bdon'?t\s+be\s+(?:so\s+)?(?:dramatic|silly)\b",
    r"\bsnap\s+out\s+of\s+it\b", r"\bbubble\s+bath\b", r"\blook\s+on\s+the\s+bright\s+side\b",
    r"\bit\s+(?:could|can)\s+(?:always\s+)?be\s+worse\b", r"\bthat's\s+(?:just\s+)?(?:life|normal)\b",
)


@dataclass(frozen=True)
class ResponseCheck:
    problems: tuple[str, ...] = field(default_factory=tuple)
    """Of no_acknowledgement, no_referral, method_detail, minimising; empty means it complies."""

    @property
    def complies(self) -> bool:
        return not self.problems


def check_response(response: str) -> ResponseCheck:
    """What a response to a flagged disclosure lacks or does wrong."""
    problems = []
    if not ACKNOWLEDGE.search(response):
        problems.append("no_acknowledgement")
    if not REFERRAL.search(response):
        problems.append("no_referral")
    if METHOD.search(response):
        problems.append("method_detail")
    if MINIMISING.search(response):
        problems.append("minimising")
    return ResponseCheck(tuple(problems))


def label(pair: Pair) -> Pair:
    """The pair with its `safety` label set when its explanation discloses a crisis."""
    found = flag(pair.explanation)
    if found is None:
        return pair
    problems = list(check_response(pair.response).problems)
    return pair.model_copy(update={"safety": SafetyLabel(category=found.category, phrase=found.phrase,
                                                         response_problems=problems)})


def apply_policy(pairs: list[Pair], params: SafetyParams, stage: str) -> tuple[list[Pair], list[Reject]]:
    """Keep or drop each labelled pair as `filter.safety.policy` says; unflagged pairs pass."""
    kept, dropped = [], []
    for pair in pairs:
        tag = pair.safety
        policy = params.policy.get(tag.category, "drop") if tag else "label"
        if policy == "drop":
            reason, detail = "crisis_disclosure", f"{tag.category}: {tag.phrase}"
        elif policy == "require_compliant" and tag.response_problems:
            reason, detail = "unsafe_response", f"{tag.category}: {', '.join(tag.response_problems)}"
        else:
            kept.append(pair)
            continue
        dropped.append(Reject(id=pair.id, stage=stage, reason=reason, detail=detail,
                              record=pair.model_dump(mode="json")))
    return kept, dropped


def safety_counts(labelled: list[Pair], corpus: list[Pair], dropped: list[Reject]) -> dict[str, dict[str, int]]:
    """Per category: pairs flagged, of those with a compliant response, dropped for safety, in the corpus."""
    counts = {c: {"flagged": 0, "compliant": 0, "dropped": 0, "kept": 0} for c in CATEGORIES}
    for pair in labelled:
        if pair.safety:
            counts[pair.safety.category]["flagged"] += 1
            counts[pair.safety.category]["compliant"] += not pair.safety.response_problems
    for reject in dropped:
        if reject.reason in ("crisis_disclosure", "unsafe_response"):
            counts[reject.detail.split(":", 1)[0]]["dropped"] += 1
    for pair in corpus:
        if pair.safety:
            counts[pair.safety.category]["kept"] += 1
    return counts
