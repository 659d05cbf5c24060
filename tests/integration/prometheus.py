"""A strict reader of the Prometheus text exposition format (version 0.0.4).

parse() refuses what a strict scraper refuses: a family declared twice (HELP or TYPE), a TYPE
after the family's samples, a family whose samples are split into two groups, a sample that
belongs to no declared family, the same series twice, malformed labels or values, and a
histogram without its +Inf bucket, _sum and _count.
"""

import math
import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(r"^(" + _NAME + r")(\{[^}]*\})?\s+(\S+)(\s+-?[0-9]+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ExpositionError(ValueError):
    pass


def _labels(text, where):
    if not text:
        return ()
    body = text[1:-1]
    out, pos = [], 0
    while pos < len(body):
        m = _LABEL.match(body, pos)
        if not m:
            raise ExpositionError(f"{where}: malformed labels {text}")
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    names = [k for k, _ in out]
    if len(names) != len(set(names)):
        raise ExpositionError(f"{where}: a label given twice in {text}")
    return tuple(sorted(out))


def _value(text, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        raise ExpositionError(f"{where}: bad value {text!r}") from None


def _family_of(sample, families):
    if sample in families:
        return sample
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[: -len(suffix)]
        if sample.endswith(suffix) and families.get(base, {}).get("type") == "histogram":
            return base
    return None


def parse(text):
    """Returns {family: {"type", "help", "samples": {(name, labels): value}}}; raises
    ExpositionError on anything a strict scraper refuses."""
    families, done, current = {}, set(), None
    if text and not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        where = f"line {n}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                fam = families.setdefault(name, {"type": None, "help": None, "samples": {}})
                key = parts[1].lower()
                if fam[key] is not None:
                    raise ExpositionError(f"{where}: {parts[1]} of {name} given twice")
                if name in done or fam["samples"]:
                    raise ExpositionError(f"{where}: {parts[1]} of {name} after its samples")
                value = parts[3] if len(parts) > 3 else ""
                if key == "type" and value not in _TYPES:
                    raise ExpositionError(f"{where}: unknown type {value!r}")
                fam[key] = value
                if current is not None and current != name:
                    done.add(current)
                current = name
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ExpositionError(f"{where}: not a sample: {line!r}")
        name, labels, value = m.group(1), _labels(m.group(2), where), _value(m.group(3), where)
        family = _family_of(name, families)
        if family is None or families[family]["type"] is None:
            raise ExpositionError(f"{where}: {name} belongs to no declared family")
        if family in done:
            raise ExpositionError(f"{where}: samples of {family} in two groups")
        if current is not None and current != family:
            done.add(current)
        current = family
        samples = families[family]["samples"]
        if (name, labels) in samples:
            raise ExpositionError(f"{where}: the series {name}{dict(labels)} given twice")
        samples[(name, labels)] = value
    for name, fam in families.items():
        if fam["type"] != "histogram":
            continue
        series = {tuple(l for l in labels if l[0] != "le")
                  for (sample, labels) in fam["samples"] if sample == name + "_bucket"}
        for labels in series:
            inf = fam["samples"].get((name + "_bucket", tuple(sorted(labels + (("le", "+Inf"),)))))
            count = fam["samples"].get((name + "_count", labels))
            if inf is None or count is None or (name + "_sum", labels) not in fam["samples"]:
                raise ExpositionError(f"{name}{dict(labels)}: +Inf bucket, _sum or _count missing")
            if not (math.isclose(inf, count)):
                raise ExpositionError(f"{name}{dict(labels)}: +Inf bucket is not _count")
    return families


def value(families, family, sample=None, **labels):
    """The value of one series, or None."""
    fam = families.get(family)
    if fam is None:
        return None
    return fam["samples"].get((sample or family, tuple(sorted(labels.items()))))


def matching(families, family, sample=None, **labels):
    """The values of the series of `family` (or of its `sample`, e.g. name_bucket) whose labels
    include `labels`."""
    fam = families.get(family, {"samples": {}})
    want = set(labels.items())
    return [v for (name, ls), v in fam["samples"].items()
            if name == (sample or family) and want <= set(ls)]
