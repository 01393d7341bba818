"""Run the variants the grid runner planned for one environment, on Python 2.7.

    python -m claims.run_py2 --plan PLAN.json --out MEASURED.json

`claims.py2` rewrites this module, like the proofs, into a tree that 2.7 imports; the grid
runner (`claims.matrix`) writes the plan (the environment, and each claim's variants as
`claims.catalog` lists them) and, from what this reports, the environment's record, with
the same fields, checks and provenance as `claims.run` writes on Python 3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import sysconfig
import time

#: The module whose version is the release of each line that runs here.
RELEASE_MODULE = {"keras2": "keras"}


def installed_versions(names: list[str]) -> dict[str, str]:
    """The installed version of each distribution, as this interpreter resolves it."""
    import pkg_resources  # type: ignore[import-not-found]  # 2.7 has no importlib.metadata

    # By PEP 503's normalised name, as the names are given (`backports.weakref` is listed as
    # `backports-weakref`).
    installed = {
        re.sub(r"[-_.]+", "-", d.project_name).lower(): d.version for d in pkg_resources.working_set
    }
    return {name: installed[name] for name in names if name in installed}


def main(argv: list[str] | None = None) -> int:
    """Run the planned variants; write what they measured."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    with open(args.plan) as source:
        plan = json.load(source)
    # The backend and TensorFlow's logging must be chosen before anything imports Keras.
    os.environ["KERAS_BACKEND"] = plan["backend"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from claims import proofs
    from claims._py2 import Claim  # type: ignore[import-not-found]  # the tree's runtime
    from claims.catalog import Variant

    began = time.time()
    lab = proofs.Lab(plan["line"])
    module = __import__(RELEASE_MODULE[plan["line"]])
    results = {}
    for claim in plan["claims"]:
        started = time.time()
        variants = [
            proofs.run_variant(lab, Claim(claim["id"]), Variant(**axes))
            for axes in claim["variants"]
        ]
        results[claim["id"]] = {"variants": variants, "seconds": time.time() - started}
        print(f"ran       {plan['env']:24} {claim['id']}")
    measured = {
        "loaded": module.__version__,
        "backend": lab.backend,
        "python": platform.python_version(),
        "platform": sysconfig.get_platform(),
        "versions": installed_versions(plan["versions"]),
        "seconds": time.time() - began,
        "results": results,
    }
    text = json.dumps(measured, indent=2, sort_keys=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as sink:
        sink.write(text + "\n")
    os.rename(tmp, args.out)  # whole or not at all: the grid runner reads only a full file
    return 0


if __name__ == "__main__":
    sys.exit(main())
