#!/usr/bin/env python3
"""The lab's image is built without reaching the network for the console's web bundle (issue 18:
npm behind a TLS-intercepting egress failed inside the build, which trusts nothing of the host's).

    check_dockerfile.py ROOT

Reads ROOT/docker/Dockerfile, ROOT/.dockerignore, ROOT/webui/scripts/bundle.mjs,
ROOT/scripts/lib/common.sh and ROOT/scripts/lab-test, and fails (exit 1, one line per problem on
stderr) unless:
  1. no instruction of the Dockerfile installs or runs Node.js or a JavaScript package manager
     (nodejs, node, npm, npx, yarn, pnpm, corepack), starts FROM a node image, or ADDs a URL;
  2. the bundle comes from the build context: a COPY (not --from) of webui/static/vendor/ or a
     folder above it, which .dockerignore does not leave out, and a RUN of the same stage that
     names every file the bundle step writes (its existence check);
  3. scripts/lib/common.sh's web_bundle_files are the files webui/scripts/bundle.mjs writes;
  4. scripts/lab-test makes the bundle on the host (web_bundle_ready, install_web) before it builds
     the image (podman build);
  5. the stage that runs cmake copies from the context every path the top CMakeLists.txt reads
     outside if(ATSARRAY_TESTS) (add_subdirectory, ${PROJECT_SOURCE_DIR}/...), and .dockerignore
     keeps them in: the image built from a fresh clone configures (cmake/ was once left out).
"""

import fnmatch
import os
import re
import sys

VENDOR = "webui/static/vendor"
NODE_WORDS = re.compile(r"(?<![\w.-])(nodejs|node|npm|npx|yarn|pnpm|corepack)(?![\w-])")


def read(root, path):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return f.read()


def instructions(text):
    """(line, KEYWORD, rest) for each instruction: comment lines dropped, continuations joined."""
    result = []
    current = None
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and current is None):
            continue
        if current is None:
            current = ""
            start = number
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        words = current.split(None, 1)
        result.append((start, words[0].upper(), words[1] if len(words) > 1 else ""))
        current = None
    if current:
        words = current.split(None, 1)
        result.append((start, words[0].upper(), words[1] if len(words) > 1 else ""))
    return result


def bundle_files(root, problems):
    """The names webui/scripts/bundle.mjs copies into static/vendor/."""
    text = read(root, "webui/scripts/bundle.mjs")
    names = re.findall(r"\[\s*'[^']+'\s*,\s*'([^']+)'\s*\]", text)
    if not names:
        problems.append("webui/scripts/bundle.mjs: no [from, to] file pairs found")
    return names


def ignored(patterns, path):
    """Whether .dockerignore leaves PATH (or a folder above it) out: the last match decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        pattern = pattern.strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        if any(fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(c, pattern + "/*")
               for c in candidates):
            out = not negate
    return out


def covers(source):
    """Whether a COPY source from the context takes in webui/static/vendor/."""
    source = source.strip("/")
    if source.startswith("./"):
        source = source[2:]
    return source in ("", ".", "webui", "webui/static", VENDOR)


def cmake_reads(root):
    """The paths the top CMakeLists.txt reads from the tree, outside if(ATSARRAY_TESTS)."""
    paths = []
    depth = 0
    tests_at = None
    for line in read(root, "CMakeLists.txt").splitlines():
        code = line.split("#", 1)[0]
        opened = re.match(r"\s*if\s*\((.*)\)", code)
        if opened:
            depth += 1
            if tests_at is None and "ATSARRAY_TESTS" in opened.group(1):
                tests_at = depth
        if tests_at is None:
            paths += re.findall(r"\$\{PROJECT_SOURCE_DIR\}/([\w./-]+)", code)
            paths += re.findall(r"add_subdirectory\(\s*([\w./-]+)", code)
        if re.match(r"\s*endif\s*\(", code):
            if tests_at == depth:
                tests_at = None
            depth -= 1
    # A glob's folder: what comes before the first wildcard.
    return sorted({re.split(r"/[^/]*[*?]", p)[0].rstrip("/") for p in paths})


def check_build_context(root, steps, patterns, problems):
    path = "docker/Dockerfile"
    stage = None
    copies = {}
    cmake_stage = None
    for _, keyword, rest in steps:
        if keyword == "FROM":
            stage = rest.split()[-1]
        elif keyword == "COPY" and not any(a.startswith("--from") for a in rest.split()):
            args = [a for a in rest.split() if not a.startswith("--")]
            copies.setdefault(stage, []).extend(a.strip("/") for a in args[:-1])
        elif keyword == "RUN" and re.search(r"\bcmake\s+-S\b", rest) and cmake_stage is None:
            cmake_stage = stage
    if cmake_stage is None:
        problems.append(f"{path}: no stage runs cmake -S")
        return
    sources = copies.get(cmake_stage, [])
    for read_path in cmake_reads(root):
        if not any(s in (".", "") or read_path == s or read_path.startswith(s + "/")
                   for s in sources):
            problems.append(f"{path}: stage {cmake_stage} runs cmake but copies no {read_path} "
                            f"(CMakeLists.txt reads it)")
        elif ignored(patterns, read_path):
            problems.append(f".dockerignore leaves {read_path} out of the build context "
                            f"(CMakeLists.txt reads it)")


def dockerignore_patterns(root):
    patterns = []
    if os.path.exists(os.path.join(root, ".dockerignore")):
        for raw in read(root, ".dockerignore").splitlines():
            raw = raw.strip()
            if raw and not raw.startswith("#"):
                patterns.append(raw)
    return patterns


def check_dockerfile(root, files, problems):
    path = "docker/Dockerfile"
    steps = instructions(read(root, path))
    patterns = dockerignore_patterns(root)
    check_build_context(root, steps, patterns, problems)
    stage = None
    copied_in = set()
    checked_in = {}
    for line, keyword, rest in steps:
        where = f"{path}:{line}"
        if keyword == "FROM":
            stage = rest.split()[-1] if " as " in rest.lower() else rest.split()[0]
            if re.match(r"(\S*/)?node(:|\s|$)", rest.split()[0] if rest else ""):
                problems.append(f"{where}: a stage starts FROM a Node.js image: {rest}")
            continue
        match = NODE_WORDS.search(rest)
        if keyword in ("RUN", "CMD", "ENTRYPOINT") and match:
            problems.append(f"{where}: {keyword} names {match.group(1)}: the image gets no Node.js "
                            f"or npm; the web bundle is made on the host (scripts/lib/common.sh "
                            f"install_web) and copied from the build context")
        if keyword == "ADD" and re.search(r"https?://|git@", rest):
            problems.append(f"{where}: ADD of a URL: the build fetches nothing")
        if keyword in ("COPY", "ADD"):
            args = [a for a in rest.split() if not a.startswith("--")]
            if any(a.startswith("--from") for a in rest.split()) or len(args) < 2:
                continue
            if any(covers(s) for s in args[:-1]):
                copied_in.add(stage)
        if keyword == "RUN":
            named = checked_in.setdefault(stage, set())
            named.update(f for f in files if f in rest)
    if not copied_in:
        problems.append(f"{path}: no COPY from the build context takes in {VENDOR}/ (the bundle "
                        f"made on the host)")
    for stage in copied_in:
        missing = [f for f in files if f not in checked_in.get(stage, set())]
        if missing:
            problems.append(f"{path}: stage {stage} copies {VENDOR}/ but no RUN of it checks "
                            f"that {', '.join(missing)} came with it")

    for f in files:
        if ignored(patterns, f"{VENDOR}/{f}"):
            problems.append(f".dockerignore leaves {VENDOR}/{f} out of the build context")


def check_common(root, files, problems):
    text = read(root, "scripts/lib/common.sh")
    match = re.search(r"^web_bundle_files=\(([^)]*)\)", text, re.M)
    if not match:
        problems.append("scripts/lib/common.sh: no web_bundle_files=(...) list")
        return
    listed = match.group(1).split()
    if sorted(listed) != sorted(files):
        problems.append(f"scripts/lib/common.sh: web_bundle_files ({' '.join(listed)}) differ from "
                        f"what webui/scripts/bundle.mjs writes ({' '.join(files)})")


def check_lab_test(root, problems):
    path = "scripts/lab-test"
    code = []
    for number, line in enumerate(read(root, path).splitlines(), 1):
        stripped = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        code.append((number, stripped))

    def first(pattern):
        for number, line in code:
            if re.search(pattern, line):
                return number
        return None

    build = first(r"\bpodman build\b")
    ready = first(r"^\s*(if\s+!\s*)?web_bundle_ready\b")
    install = first(r"^\s*install_web\b")
    if build is None:
        problems.append(f"{path}: no podman build")
        return
    if ready is None or install is None:
        problems.append(f"{path}: does not make the web bundle on the host (web_bundle_ready, "
                        f"install_web) before the image build")
    elif not (ready < build and install < build):
        problems.append(f"{path}:{build}: the image is built before the web bundle is made "
                        f"(install_web at line {install})")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    problems = []
    files = bundle_files(root, problems)
    check_dockerfile(root, files, problems)
    check_common(root, files, problems)
    check_lab_test(root, problems)
    for p in problems:
        print(f"check_dockerfile: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_dockerfile: the image takes {VENDOR}/ ({', '.join(files)}) from the build "
          f"context and needs no Node.js or npm; scripts/lab-test makes it first; the build stage "
          f"copies all the top CMakeLists.txt reads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
