#!/usr/bin/env python3
"""Counts individual test cases from meson's JUnit log (GoogleTest cases one by one) and prints
the suite's closing line "N passed, M failed". Exit 1 when anything failed or nothing ran."""
import json
import sys
import xml.etree.ElementTree as ET

junit_path, json_path = sys.argv[1], sys.argv[2]
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
        name = f"{case.get('classname')}.{case.get('name')}"
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
                    failed_names.append(f"{entry['name']} ({entry['result']})")
except OSError as err:
    print(f"cannot read {json_path}: {err}")

for name in failed_names:
    print(f"FAILED: {name}")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
