"""Run a Dockerfile's build stage without Docker: the same COPY and RUN lines.

There is no Docker engine in CI, so the images themselves are never built
there. What can go wrong in their build stage (a COPY missing a package the
install needs, an extra that does not install from that subset of the tree, an
entry point that does not import) is checked by replaying that stage: the
files each COPY names (filtered by ``.dockerignore``) go into a temporary build
context, and each RUN line runs there with the stage's ENV, except that
``VENV`` points into a temporary directory and pip may use its wheel cache.

Only the Dockerfile features these two files use are understood (shell-form
RUN, ENV ``k=v`` pairs, WORKDIR, COPY of relative paths); anything else in the
build stage raises, so a change that this replay cannot follow fails loudly.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


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


def context_files(root: Path, source: str, rules) -> list[str]:
    """Files under ``source`` (relative to ``root``) that the build context holds."""
    base = root / source
    if base.is_file():
        candidates = [source]
    elif base.is_dir():
        candidates = [p.relative_to(root).as_posix() for p in sorted(base.rglob("*")) if p.is_file()]
    else:
        raise FileNotFoundError(f"COPY source {source!r} is not in {root}")
    return [c for c in candidates if not ignored(c, rules)]


# --- the replay -------------------------------------------------------------

@dataclass
class Replay:
    context: Path     # the temporary build context (the stage's WORKDIR)
    venv: Path        # where VENV pointed
    copied: list[str]  # every file copied, relative to the context
    env: dict[str, str]
    seconds: float


def replay_build_stage(dockerfile: Path, repo: Path, workdir: Path, *, stage: str = "build",
                       python: str) -> Replay:
    """Copy what ``stage`` COPYs into ``workdir/context`` and run its RUN lines there.

    ``python`` is the interpreter the RUN lines find as ``python`` (the image
    has python:3.11; the caller passes one of the same minor version).
    """
    import time

    df = parse(dockerfile.read_text())
    st = df.stage(stage)
    rules = ignore_rules((repo / ".dockerignore").read_text()) if (repo / ".dockerignore").exists() else []
    context = workdir / "context"
    venv = workdir / "venv"
    shims = workdir / "bin"
    shims.mkdir(parents=True)
    (shims / "python").symlink_to(python)
    # A plain environment: the host's PATH (after the `python` shim), no
    # virtualenv or PYTHONPATH leaking in.
    env = {"PATH": f"{shims}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8"}
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
                "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        if key in os.environ:
            env[key] = os.environ[key]
    workdir_in_image: str | None = None
    copied: list[str] = []
    started = time.monotonic()
    for keyword, args in st.instructions:
        if keyword == "ENV":
            for key, value in env_pairs(args):
                if key == "VENV":
                    env[key] = str(venv)
                elif key == "PIP_NO_CACHE_DIR":
                    continue  # the image keeps no cache; here pip may reuse the wheels it has
                else:
                    env[key] = expand(value, env)
        elif keyword == "WORKDIR":
            workdir_in_image = expand(args, env)
            context.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            if args.startswith("[") or args.startswith("--"):
                raise ValueError(f"COPY {args!r}: only `COPY <src>... <dest>` is supported")
            *sources, dest = shlex.split(args)
            if workdir_in_image is None:
                raise ValueError("COPY before WORKDIR")
            dest = expand(dest, env)
            if dest.startswith("/"):
                dest = os.path.relpath(dest, workdir_in_image)
            target = (context / dest).resolve()
            if context.resolve() not in (target, *target.parents):
                raise ValueError(f"COPY destination {dest!r} is outside WORKDIR {workdir_in_image}")
            for src in sources:
                src = src.rstrip("/")
                for rel in context_files(repo, src, rules):
                    # Docker copies a directory's contents into dest; a file into dest/ (or as dest).
                    if (repo / src).is_dir():
                        out = target / Path(rel).relative_to(src)
                    elif dest.endswith("/") or len(sources) > 1:
                        out = target / Path(rel).name
                    else:
                        out = target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(repo / rel, out)
                    copied.append(out.relative_to(context).as_posix())
        elif keyword == "RUN":
            if args.startswith("["):
                raise ValueError("exec-form RUN is not supported")
            proc = subprocess.run(["/bin/sh", "-c", args], cwd=context, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise AssertionError(f"RUN {args}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        elif keyword in ("ARG", "LABEL"):
            continue
        else:
            raise ValueError(f"the replay does not understand {keyword} in stage {stage!r}")
    return Replay(context=context, venv=venv, copied=sorted(copied), env=env, seconds=time.monotonic() - started)


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT in JSON (exec) form -> list."""
    value = json.loads(args)
    if not isinstance(value, list):
        raise ValueError(args)
    return value
