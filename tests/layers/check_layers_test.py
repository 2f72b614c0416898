#!/usr/bin/env python3
"""Tests of cmake/check_layers.py: trees with a forbidden include fail with the file, the line and
the rule; trees that keep the rules, and the project's own tree, pass.

    check_layers_test.py PATH/TO/check_layers.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

CHECK = None
ROOT = None


def make_tree(base, files):
    for path, text in files.items():
        full = os.path.join(base, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)


def run_check(root):
    return subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)


# A small tree that keeps the rules: each layer includes only what it may.
GOOD = {
    "backend/block_store.hpp": "#pragma once\n",
    "backend/file_store.cpp": '#include "backend/block_store.hpp"\n#include <vector>\n',
    "target/scsi/command.hpp": "#pragma once\n",
    "target/scsi/target_device.hpp": '#pragma once\n#include "target/scsi/command.hpp"\n',
    "target/scsi/lun.hpp": '#pragma once\n#include "backend/block_store.hpp"\n',
    "target/iscsi/task.hpp": '#pragma once\n#include "target/scsi/command.hpp"\n',
    "target/iscsi/connection.cpp": '#include "target/iscsi/task.hpp"\n'
    '#include "target/scsi/target_device.hpp"\n#include <boost/asio.hpp>\n',
    "webui/server/router.cpp": '#include "target/scsi/lun.hpp"\n',
    "tests/unit/iscsi/connection_test.cpp": '#include "backend/memory_store.hpp"\n',
}


class CheckLayersTest(unittest.TestCase):
    def check_tree(self, extra):
        with tempfile.TemporaryDirectory() as base:
            make_tree(base, {**GOOD, **extra})
            return run_check(base)

    def assert_breach(self, result, where, include, rule):
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(f'{where}: error: layer rule broken: "{include}"', result.stderr)
        self.assertIn(rule, result.stderr)

    def test_a_tree_keeping_the_rules_passes(self):
        result = self.check_tree({})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")

    def test_iscsi_naming_a_store_fails(self):
        result = self.check_tree({
            "target/iscsi/pdu.hpp": '#pragma once\n\n#include "backend/file_store.hpp"\n',
        })
        self.assert_breach(result, "target/iscsi/pdu.hpp:3", "backend/file_store.hpp",
                           "iSCSI never names a store")

    def test_iscsi_naming_a_lun_fails(self):
        result = self.check_tree({
            "target/iscsi/connection_scsi.cpp": '#include "target/scsi/lun.hpp"\n',
        })
        self.assert_breach(result, "target/iscsi/connection_scsi.cpp:1", "target/scsi/lun.hpp",
                           "iSCSI never names a store")

    def test_scsi_naming_iscsi_or_the_console_fails(self):
        result = self.check_tree({
            "target/scsi/sense.cpp": '#include "target/iscsi/task.hpp"\n'
            '#  include <webui/server/router.hpp>\n',
        })
        self.assert_breach(result, "target/scsi/sense.cpp:1", "target/iscsi/task.hpp",
                           "SCSI never names iSCSI or the console")
        self.assert_breach(result, "target/scsi/sense.cpp:2", "webui/server/router.hpp",
                           "SCSI never names iSCSI or the console")

    def test_a_store_naming_a_layer_above_fails(self):
        result = self.check_tree({
            "backend/rbd_store.cpp": '#include "target/scsi/command.hpp"\n',
        })
        self.assert_breach(result, "backend/rbd_store.cpp:1", "target/scsi/command.hpp",
                           "stores know nothing above them")

    def test_a_relative_include_is_judged_by_what_it_names(self):
        result = self.check_tree({
            "target/iscsi/portal.cpp": '#include "../../backend/block_store.hpp"\n',
        })
        self.assert_breach(result, "target/iscsi/portal.cpp:1", "backend/block_store.hpp",
                           "iSCSI never names a store")

    def test_the_console_naming_a_store_fails(self):
        result = self.check_tree({
            "webui/server/metrics.cpp": '#include "backend/block_store.hpp"\n',
        })
        self.assert_breach(result, "webui/server/metrics.cpp:1", "backend/block_store.hpp",
                           "the console reads stores only through the SCSI layer")

    def test_forensics_naming_a_layer_above_fails(self):
        result = self.check_tree({
            "target/forensics/log_join.cpp": '#include "target/ats/event_log.hpp"\n'
            '#include "target/scsi/lun.hpp"\n',
        })
        self.assert_breach(result, "target/forensics/log_join.cpp:2", "target/scsi/lun.hpp",
                           "host-log forensics read notes and the array's events")

    def test_commented_out_includes_are_ignored(self):
        result = self.check_tree({
            "target/iscsi/text.cpp": '// #include "backend/block_store.hpp"\n',
        })
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_every_breach_is_reported(self):
        result = self.check_tree({
            "target/iscsi/a.cpp": '#include "backend/block_store.hpp"\n',
            "target/iscsi/b.cpp": '#include "backend/block_store.hpp"\n',
        })
        self.assertEqual(result.returncode, 1)
        self.assertIn("2 include(s) break the layer rules", result.stderr)

    def test_the_project_tree_passes(self):
        result = run_check(ROOT)
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    CHECK = os.path.abspath(sys.argv.pop(1))
    ROOT = os.path.dirname(os.path.dirname(CHECK))
    unittest.main(verbosity=2)
