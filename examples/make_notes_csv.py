"""Write a small example CSV (note, diagnosis, hospital, patient) from ICD-10-CM texts.

The texts are real clinical terminology (code titles and inclusion terms of six chapters); the
hospital and patient columns are made up so the domain scenario and the group split have something
to cut. Usage: python examples/make_notes_csv.py notes.csv
"""
import csv
import random
import sys

from streams.icd10cm import chapter_records

CHAPTERS = {"Chapter 9": "circulatory", "Chapter 10": "respiratory", "Chapter 11": "digestive",
            "Chapter 4": "endocrine", "Chapter 6": "nervous", "Chapter 14": "genitourinary"}


def main(path: str, per_class: int = 150, seed: int = 0) -> None:
    records, _ = chapter_records()
    rng = random.Random(seed)
    rows = []
    for label, name in enumerate(records.class_names):
        short = CHAPTERS.get(name.split(":")[0])
        if short is None:
            continue
        texts = [t for t, y in zip(records.texts, records.labels) if y == label]
        for text in rng.sample(texts, min(per_class, len(texts))):
            patient = rng.randrange(400)
            rows.append({"note": text, "diagnosis": short, "hospital": ["north", "south", "east"][patient % 3],
                         "patient": f"P{patient:04d}"})
    rng.shuffle(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["note", "diagnosis", "hospital", "patient"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "notes.csv")
