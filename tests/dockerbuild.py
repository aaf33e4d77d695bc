"""Read the two Dockerfiles and .dockerignore as Docker does, for the checks that need no engine.

Only the Dockerfile features these two files use are understood (shell-form
RUN, ENV ``k=v`` pairs, WORKDIR, COPY of relative paths, ARG, LABEL). The
images themselves are built and run for real in tests/integration/test_images_run.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def instructions(text: str) -> list[tuple[str, str]]:
    """``(KEYWORD, arguments)`` pairs; comments dropped, continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # comment lines inside a continuation are skipped
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    if pending:
        raise ValueError("Dockerfile ends inside a line continuation")
    return out


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"{keyword} before the first FROM")
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return Dockerfile(global_args, stages)


def env_pairs(args: str) -> list[tuple[str, str]]:
    """ENV ``k=v k2="v 2"`` -> pairs (the legacy ``ENV k v`` form is refused)."""
    pairs = []
    for word in shlex.split(args):
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"ENV {args!r}: only the key=value form is supported")
        pairs.append((key, value))
    return pairs


def expand(value: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` from ``env`` (empty if unset), as Docker does in ENV/WORKDIR/COPY."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


# --- .dockerignore -----------------------------------------------------------

def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" : zero or more directories
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(exclude?, regex) per .dockerignore line, in order (the last match wins)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((not negate, _pattern_regex(pattern)))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves ``path`` (relative, '/'-separated) out of the context.

    A pattern matches the path itself or any of its parent directories
    (moby/patternmatcher's MatchesOrParentMatches); the last matching rule wins.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exclude, regex in rules:
        if any(regex.match(p) for p in prefixes):
            excluded = exclude
    return excluded


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT in JSON (exec) form -> list."""
    value = json.loads(args)
    if not isinstance(value, list):
        raise ValueError(args)
    return value
