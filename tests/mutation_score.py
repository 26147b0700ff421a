"""Print the mutation score of the last `mutmut run` (``make mutation``) over the mutants named on the
command line (fnmatch patterns of mutmut's mutant names), from mutmut's per-file records in mutants/."""
import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut 3.8's exit codes (mutmut.stats.status_by_exit_code)
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


def main(patterns):
    counts, survivors = Counter(), []
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if patterns and not any(fnmatch.fnmatch(key, p) for p in patterns):
                continue
            status = STATUS.get(code, "suspicious")
            counts[status] += 1
            if status != "killed":
                survivors.append(f"  {status}: {key}")
    total = sum(counts.values())
    if not total:
        sys.exit("no mutmut results in mutants/: run `make mutation`")
    print("\n".join(survivors))
    print(", ".join(f"{n} {s}" for s, n in counts.most_common()))
    print(f"mutation score: {counts['killed']}/{total} mutants killed ({100 * counts['killed'] / total:.1f} %)")


if __name__ == "__main__":
    main(sys.argv[1:])
