#!/usr/bin/env python3
"""Tests of tests/lab/check_dockerfile.py: the project's own files pass; a Dockerfile that
installs or runs Node.js or npm, starts from a node image, fetches a URL or does not take the web
bundle from the build context fails, and so do a .dockerignore that leaves the bundle out, a
bundle file list that disagrees with webui/scripts/bundle.mjs and a scripts/lab-test that builds
the image before it makes the bundle, or whose build stage lacks a folder CMakeLists.txt reads.

    check_dockerfile_test.py PATH/TO/check_dockerfile.py ROOT
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

CHECK = None
ROOT = None
FILES = ["docker/Dockerfile", ".dockerignore", "CMakeLists.txt", "webui/scripts/bundle.mjs",
         "scripts/lib/common.sh", "scripts/lab-test"]

# The Dockerfile before issue 18: npm inside the build when the tree had no bundle.
OLD_STEP = """COPY webui/ webui/
RUN if [ ! -f webui/static/vendor/uPlot.iife.min.js ]; then \\
      apt-get update -q \\
      && apt-get install -y -q --no-install-recommends nodejs npm \\
      && npm ci --prefix webui --omit=dev --no-audit --no-fund \\
      && npm run --prefix webui bundle; \\
    fi
"""


class CheckDockerfileTest(unittest.TestCase):
    def run_on(self, edits):
        """Runs the check on a copy of the project's files with EDITS: path -> function of text."""
        with tempfile.TemporaryDirectory() as base:
            for path in FILES:
                os.makedirs(os.path.dirname(os.path.join(base, path)), exist_ok=True)
                shutil.copy(os.path.join(ROOT, path), os.path.join(base, path))
            for path, edit in edits.items():
                full = os.path.join(base, path)
                with open(full, encoding="utf-8") as f:
                    text = f.read()
                new = edit(text)
                self.assertNotEqual(new, text, f"the edit of {path} changed nothing")
                with open(full, "w", encoding="utf-8") as f:
                    f.write(new)
            return subprocess.run([sys.executable, CHECK, base], capture_output=True, text=True)

    def assert_fails(self, edits, message):
        result = self.run_on(edits)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(message, result.stderr)

    def test_the_project_passes(self):
        result = self.run_on({})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")

    def test_the_dockerfile_before_issue_18_fails(self):
        def old(text):
            return text.replace("COPY webui/server/ webui/server/\n", OLD_STEP)
        self.assert_fails({"docker/Dockerfile": old}, "RUN names nodejs")

    def test_npm_run_in_the_build_fails(self):
        def npm(text):
            return text.replace("FROM debian:bookworm AS web\n",
                                "FROM debian:bookworm AS web\nRUN npx --yes some-bundler\n")
        self.assert_fails({"docker/Dockerfile": npm}, "RUN names npx")

    def test_a_node_base_image_fails(self):
        def node(text):
            return text.replace("FROM debian:bookworm AS web", "FROM docker.io/library/node:20 AS web")
        self.assert_fails({"docker/Dockerfile": node}, "a stage starts FROM a Node.js image")

    def test_an_added_url_fails(self):
        def url(text):
            return text.replace("COPY webui/static/ /static/\n", "COPY webui/static/ /static/\n"
                                "ADD https://example.invalid/uPlot.iife.min.js /static/vendor/\n")
        self.assert_fails({"docker/Dockerfile": url}, "ADD of a URL")

    def test_a_bundle_not_from_the_context_fails(self):
        def other(text):
            return text.replace("COPY webui/static/ /static/", "COPY webui/static/js/ /static/js/")
        self.assert_fails({"docker/Dockerfile": other}, "no COPY from the build context takes in")

    def test_an_unchecked_bundle_file_fails(self):
        def unchecked(text):
            return text.replace("uPlot.min.css uPlot.LICENSE; do", "uPlot.LICENSE; do")
        self.assert_fails({"docker/Dockerfile": unchecked}, "came with it")

    def test_a_dockerignore_leaving_the_bundle_out_fails(self):
        self.assert_fails({".dockerignore": lambda t: t + "webui/static/vendor/\n"},
                          ".dockerignore leaves webui/static/vendor/uPlot.iife.min.js out")

    def test_a_bundle_list_that_differs_fails(self):
        def fewer(text):
            return text.replace("uPlot.min.css uPlot.LICENSE)", "uPlot.LICENSE)")
        self.assert_fails({"scripts/lib/common.sh": fewer}, "web_bundle_files")

    def test_a_lab_test_that_does_not_make_the_bundle_fails(self):
        def none(text):
            return re.sub(r"^if ! web_bundle_ready; then\n.*?^fi\n", "", text, flags=re.S | re.M)
        self.assert_fails({"scripts/lab-test": none}, "does not make the web bundle on the host")

    def test_a_lab_test_that_makes_the_bundle_too_late_fails(self):
        def late(text):
            block = re.search(r"^if ! web_bundle_ready; then\n.*?^fi\n", text, re.S | re.M).group(0)
            text = text.replace(block, "")
            return text.replace('# The container config on loopback', block + '# The container config on loopback')
        self.assert_fails({"scripts/lab-test": late}, "the image is built before the web bundle is made")

    def test_a_build_stage_without_a_folder_cmake_reads_fails(self):
        def no_cmake(text):
            return text.replace("COPY cmake/ cmake/\n", "")
        self.assert_fails({"docker/Dockerfile": no_cmake},
                          "stage build runs cmake but copies no cmake (CMakeLists.txt reads it)")

    def test_a_dockerignore_leaving_a_folder_cmake_reads_out_fails(self):
        self.assert_fails({".dockerignore": lambda t: t.replace("!cmake/\n", "")},
                          ".dockerignore leaves cmake out of the build context")

    def test_only_folders_read_outside_the_tests_are_needed(self):
        # tests/ is read under if(ATSARRAY_TESTS), which the image builds without.
        def unguarded(text):
            return re.sub(r"^if\(ATSARRAY_TESTS\)\n(.*?)^endif\(\)\n", r"\1", text,
                          flags=re.S | re.M)
        self.assert_fails({"CMakeLists.txt": unguarded},
                          "stage build runs cmake but copies no tests (CMakeLists.txt reads it)")

if __name__ == "__main__":
    CHECK = os.path.abspath(sys.argv[1])
    ROOT = os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1], verbosity=2)
