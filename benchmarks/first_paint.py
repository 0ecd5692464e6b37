"""Time to first paint of ``gdtui launch``, against ``import torch`` measured in the same run.

The app paints before it imports torch (the engine loads in a worker thread afterwards), so its
first frame should come well before torch could even be imported. Both are measured from process
start, in a pty (../shared/tools/ptybytes.py --until-text), best of ``--repeat``.
Target: first paint under 0.5 s.

The last line is JSON with both times and ``ratio`` (first paint ÷ import torch).
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import gdtui_command, ptybytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paint, torch_import = [], []
    for _ in range(args.repeat):
        shot = ptybytes(
            ["--size", "120x40", "--warmup", "0", "--seconds", "3", "--until-text", "Backprop"],
            [*gdtui_command(), "launch"],
        )
        if shot.get("first_text_s") is not None:
            paint.append(shot["first_text_s"])
        imported = ptybytes(
            ["--size", "80x24", "--warmup", "0", "--seconds", "5", "--until-text", "TORCH-READY"],
            [sys.executable, "-c", "import torch; print('TORCH-READY')"],
        )
        if imported.get("first_text_s") is not None:
            torch_import.append(imported["first_text_s"])
    best_paint, best_import = min(paint), min(torch_import)
    print(f"first paint of gdtui launch  {best_paint:.3f} s")
    print(f"python -c 'import torch'     {best_import:.3f} s")
    print(
        json.dumps(
            {
                "benchmark": "first_paint",
                "first_paint_s": best_paint,
                "import_torch_s": best_import,
                "ratio": round(best_paint / best_import, 3),
                "target_s": 0.5,
            }
        )
    )


if __name__ == "__main__":
    main()
