"""This machine's limits, for reference next to the build times: how fast one core hashes and
compresses, and how fast the scratch filesystem takes fsynced writes. Throughputs are MiB/s.
"""
import re
import subprocess
import time
from pathlib import Path

MiB = 1 << 20


def _timed(argv, stdin_path=None) -> float:
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        start = time.monotonic()
        subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return time.monotonic() - start
    finally:
        if stdin_path:
            stdin.close()


def _sample(path: Path, sources, mib: int) -> Path:
    """The first `mib` MiB of the concatenated sources, in one file (then in the page cache)."""
    left = mib * MiB
    with open(path, "wb") as out:
        for src in sources:
            with open(src, "rb") as f:
                while left and (chunk := f.read(min(left, MiB))):
                    out.write(chunk)
                    left -= len(chunk)
            if not left:
                break
    return path


def _openssl_sha256() -> float:
    out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", str(MiB), "-seconds", "2"],
                         capture_output=True, text=True).stdout
    match = re.search(r"^sha256\s+([\d.]+)k", out, re.M)
    return float(match.group(1)) * 1000 / MiB if match else None


def measure(work: Path, workloads: Path, manifest: dict) -> dict:
    quick = manifest["mode"] == "quick"
    sample_mib = 20 if quick else 100
    scratch = work / "limits"
    scratch.mkdir(exist_ok=True)
    big = workloads / "bigfile" / "big.bin"
    random_sample = _sample(scratch / "random.bin", [big], sample_mib)
    text_files = sorted((workloads / "bigctx" / "src").rglob("*.txt"))
    text_sample = _sample(scratch / "text.bin", text_files, sample_mib)
    text_mib = text_sample.stat().st_size / MiB
    big_mib = big.stat().st_size / MiB

    result = {"sample_mib": sample_mib, "openssl_sha256_mibs": _openssl_sha256(),
              "sha256sum_bigfile_mibs": big_mib / _timed(["sha256sum", str(big)])}
    for name, path, mib in (("random", random_sample, sample_mib), ("text", text_sample, text_mib)):
        result[f"gzip6_{name}_mibs"] = mib / _timed(["gzip", "-6", "-c"], path)
        result[f"zstd3_{name}_mibs"] = mib / _timed(["zstd", "-3", "-T1", "-q", "-c"], path)

    dd_mib = 256 if quick else 1024
    seconds = _timed(["dd", "if=/dev/zero", f"of={scratch / 'dd.bin'}", "bs=1M", f"count={dd_mib}", "conv=fsync"])
    result["dd_fsync_write_mibs"] = dd_mib / seconds
    result["dd_mib"] = dd_mib
    for f in scratch.iterdir():
        f.unlink()
    scratch.rmdir()
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items()}
