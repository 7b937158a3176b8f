#!/usr/bin/python3
"""Validates the JSON the code emits against docs/schemas/*.schema.json with python3-jsonschema,
and checks that the schemas reject bad records (so a schema that accepts anything fails here)."""
import copy
import glob
import json
import os
import subprocess
import sys
import unittest

import jsonschema

SRC = os.environ.get("RECOMP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMAS = os.path.join(SRC, "docs", "schemas")


def load(name_part):
    matches = [p for p in glob.glob(os.path.join(SCHEMAS, "*.json")) if name_part in os.path.basename(p)]
    assert len(matches) == 1, f"expected one schema containing {name_part!r}, got {matches}"
    with open(matches[0]) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        exe = os.environ["RECOMP_RECORD_SAMPLES"]
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        cls.samples = [json.loads(line) for line in out.splitlines() if line.strip()]
        cls.validators = {k: load(k) for k in ("submission", "status", "event", "artifact")}

    def records(self, kind):
        recs = [s["record"] for s in self.samples if s["kind"] == kind]
        self.assertTrue(recs, f"no {kind} samples emitted")
        return recs

    def test_emitted_records_validate(self):
        for kind, v in self.validators.items():
            for rec in self.records(kind):
                errors = list(v.iter_errors(rec))
                self.assertEqual(errors, [], f"{kind}: {rec}")

    def assert_rejects(self, kind, mutate, why):
        base = self.records(kind)[0]
        bad = copy.deepcopy(base)
        mutate(bad)
        self.assertFalse(self.validators[kind].is_valid(bad), f"{kind} schema accepted {why}: {bad}")

    def test_submission_rejects_bad(self):
        self.assert_rejects("submission", lambda r: r.pop("module_manifest"), "a missing manifest")
        self.assert_rejects("submission", lambda r: r.update(priority="urgent"), "an unknown priority")
        self.assert_rejects("submission", lambda r: r.update(execution_mode="remote"), "an unknown mode")
        self.assert_rejects("submission", lambda r: r.update(config_manifest="artifact://XYZ"), "a bad ref")
        self.assert_rejects("submission", lambda r: r.update(run_id="../etc"), "a hostile run id")
        self.assert_rejects("submission", lambda r: r.update(requested_by=""), "an empty principal")

    def test_spec_examples_validate(self):
        # SPEC-250's two examples as it writes them (no schema_version), each placeholder
        # replaced by one value it stands for.
        ref = "artifact://" + "ab" * 32
        submission = {"run_id": "uuid-or-run-id", "execution_mode": "local",
                      "module_manifest": ref, "config_manifest": ref,
                      "provenance_manifest": ref, "requested_by": "principal_id",
                      "priority": "standard"}
        status = {"run_id": "uuid-or-run-id", "state": "running", "current_stage": "string",
                  "stage_attempt": 1, "artifacts": [ref],
                  "started_at": "2026-12-05T10:00:00Z", "updated_at": "2026-12-05T10:00:01Z"}
        for kind, rec in (("submission", submission), ("status", status)):
            self.assertEqual(list(self.validators[kind].iter_errors(rec)), [], kind)
            self.assertTrue(self.validators[kind].is_valid(dict(rec, schema_version=1)))
            self.assertFalse(self.validators[kind].is_valid(dict(rec, schema_version=2)))

    def test_status_rejects_bad(self):
        self.assert_rejects("status", lambda r: r.update(state="paused"), "an unknown state")
        self.assert_rejects("status", lambda r: r.update(stage_attempt=-1), "a negative attempt")
        self.assert_rejects("status", lambda r: r.update(updated_at="yesterday"), "a bad time")
        self.assert_rejects("status", lambda r: r.update(artifacts=["nope"]), "a bad artifact")
        self.assert_rejects("status", lambda r: r.pop("run_id"), "a missing run id")

    def test_event_rejects_bad(self):
        self.assert_rejects("event", lambda r: r.update(specversion="0.3"), "another CloudEvents version")
        self.assert_rejects("event", lambda r: r.update(type="recomp.run.exploded"), "an unknown type")
        self.assert_rejects("event", lambda r: r.update(sequence=0), "sequence 0")
        self.assert_rejects("event", lambda r: r.pop("subject"), "a missing subject")
        stage = [r for r in self.records("event") if r["type"] == "recomp.run.stage.completed"][0]
        bad = copy.deepcopy(stage)
        bad["data"].pop("job_id")
        self.assertFalse(self.validators["event"].is_valid(bad), "stage event without job_id accepted")
        done = [r for r in self.records("event") if r["type"] == "recomp.run.completed"][0]
        bad = copy.deepcopy(done)
        bad["data"]["state"] = "running"
        self.assertFalse(self.validators["event"].is_valid(bad), "completed with a non-terminal state accepted")

    def test_artifact_rejects_bad(self):
        self.assert_rejects("artifact", lambda r: r.update({"class": "temporary"}), "an unknown class")
        self.assert_rejects("artifact", lambda r: r.update(size=-5), "a negative size")
        self.assert_rejects("artifact", lambda r: r.update(ref="artifact://../../etc"), "a hostile ref")


if __name__ == "__main__":
    unittest.main(verbosity=2)
