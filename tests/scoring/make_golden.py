"""Write ``golden/``: the outputs of every case of ``golden_cases.py`` with the code on ``PYTHONPATH``.

    git archive 8d8dd72 | tar -x -C /tmp/base        # the code before issue 13
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/base .venv/bin/python tests/scoring/make_golden.py [NAME ...]

Each command runs in a fresh ``python -P -m genosparse.cli.main`` process (``-P``: the code on
``PYTHONPATH``, not the checkout in the working directory); the vep cases write TSV,
the region cases their usual files (of ``ism`` only the NPZ is kept).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_cases import GOLDEN, VEP_CASES, region_argvs, vep_argv  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
log = logging.getLogger("make_golden")


def _run(argv: list[str]) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-P", "-m", "genosparse.cli.main", *argv], check=True)
    log.info("%s: %.0f s", argv[0], time.perf_counter() - started)


def main(names: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for case in VEP_CASES:
            if not names or case.name in names:
                _run(vep_argv(case, DATA.resolve(), folder, GOLDEN / f"{case.name}.tsv"))
        for name, argv in region_argvs(DATA.resolve(), folder).items():
            if not names or name.split(".")[0] in names:
                _run(argv)
                shutil.copy(folder / name, GOLDEN / name)


if __name__ == "__main__":
    main(sys.argv[1:])
