"""A small EPITOME-shaped data set written for this project (no EPITOME text).

Same three CSV files and columns as EPITOME's Reddit data, 24 seeker posts with
two responses each, whose wording carries the mechanisms (a warm reaction, a
named feeling, a question), plus the two kinds of repeats EPITOME has: one
pair listed twice with the same labels, one listed twice with conflicting
interpretation labels. A response with a level marks itself whole as the
rationale (EPITOME marks the spans that carry the mechanism).
"""

from __future__ import annotations

import csv
from pathlib import Path

from synthempathy.epitome.data import EPITOME_FILES as FILES

TROUBLES = ["lost my job", "failed my exam", "broke up with my partner", "cannot pay rent", "had a panic attack",
            "moved to a new city alone", "got a bad diagnosis", "fought with my dad", "was left out by friends",
            "missed my deadline", "crashed my car", "have not slept in days"]
RESPONSES = [  # (text, ER, IP, EX)
    ("I am so sorry, that sounds really painful. What happened after {t}?", 2, 0, 2),
    ("It must feel lonely and scary that you {t}; I went through the same last year.", 0, 2, 0),
    ("sorry to hear that", 1, 0, 0),
    ("Just get over it, everyone {t} at some point.", 0, 0, 0),
    ("That sounds hard. How are you feeling about it now?", 1, 0, 1),
    ("I understand. I felt so ashamed when I {t} too. Do you want to talk about what scares you most?", 0, 2, 2),
]


def write_epitome_fixture(directory: Path) -> Path:
    """Write the three CSVs into `directory` and return it."""
    rows = []  # (sp_id, rp_id, seeker, response, levels by mechanism)
    for i in range(24):
        trouble = TROUBLES[i % len(TROUBLES)]
        seeker = f"Post {i}: I {trouble} and I do not know what to do anymore."
        for k in range(2):
            text, er, ip, ex = RESPONSES[(i + 3 * k) % len(RESPONSES)]
            rows.append((f"s{i:02d}", f"r{i:02d}{k}", seeker, text.format(t=trouble), [er, ip, ex]))
    rows.append(rows[0])  # an agreeing repeat
    conflicting = rows[5]
    rows.append((*conflicting[:4], [conflicting[4][0], 2 - conflicting[4][1] or 1, conflicting[4][2]]))
    directory.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(FILES.values()):
        with (directory / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sp_id", "rp_id", "seeker_post", "response_post", "level", "rationales"])
            for sp, rp, seeker, response, levels in rows:
                writer.writerow([sp, rp, seeker, response, levels[index], f"{response}|" if levels[index] else ""])
    return directory
