#!/usr/bin/env python3
"""Counts individual test cases from meson's JUnit logs (GoogleTest cases one by one) and prints
the suite's closing line "N passed, M failed" over every build given.
Usage: test-summary.py JUNIT JSON [JUNIT JSON]... (one pair per build directory).
Exit 1 when anything failed or nothing passed in one of the builds."""
import json
import os
import sys
import xml.etree.ElementTree as ET


def build_label(junit_path):
    # <build dir>/meson-logs/testlog.junit.xml -> "<build dir>"
    return os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(junit_path))))


def count(junit_path, json_path, prefix):
    passed = failed = 0
    failed_names = []
    binaries_with_failed_cases = set()
    try:
        root = ET.parse(junit_path).getroot()
        for suite in root.iter("testsuite"):
            # Suites are named "<project>.<meson test>.<GoogleTest suite>".
            parts = (suite.get("name") or "").split(".")
            binary = parts[1] if len(parts) > 2 else suite.get("name")
            for case in suite.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    binaries_with_failed_cases.add(binary)
        for case in root.iter("testcase"):
            name = f"{prefix}{case.get('classname')}.{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failed_names.append(name)
            elif case.find("skipped") is not None:
                failed += 1
                failed_names.append(name + " (skipped: a skipped test is a defect)")
            else:
                passed += 1
    except (OSError, ET.ParseError) as err:
        print(f"cannot read {junit_path}: {err}")

    # A test binary that crashed or timed out may leave no case behind: count it from meson's log.
    try:
        with open(json_path) as log:
            for line in log:
                entry = json.loads(line)
                if entry.get("result") in ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS", "INTERRUPT"):
                    if entry["name"] not in binaries_with_failed_cases:
                        failed += 1
                        failed_names.append(f"{prefix}{entry['name']} ({entry['result']})")
    except OSError as err:
        print(f"cannot read {json_path}: {err}")
    return passed, failed, failed_names


args = sys.argv[1:]
if not args or len(args) % 2:
    sys.exit("usage: test-summary.py JUNIT JSON [JUNIT JSON]...")
pairs = list(zip(args[0::2], args[1::2]))
passed = failed = 0
failed_names = []
every_build_ran = True
for junit_path, json_path in pairs:
    # With several builds, say which one a failure came from.
    prefix = f"[{build_label(junit_path)}] " if len(pairs) > 1 else ""
    build_passed, build_failed, build_failed_names = count(junit_path, json_path, prefix)
    passed += build_passed
    failed += build_failed
    failed_names += build_failed_names
    every_build_ran = every_build_ran and build_passed > 0

for name in failed_names:
    print(f"FAILED: {name}")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and every_build_ran else 1)
