#!/usr/bin/env python3
"""Generates the benchmark workloads: one build context (with its Dockerfile) per workload.

Every byte comes from random.Random(seed), so two runs with the same seed and size make the
same contexts; nothing big is committed to the repository. Each workload also names the one
context file that the "one file changed" rebuild edits, and where that file ends up in the
final image, so the driver can check that a rebuild did not reuse stale content.

    gen_workloads.py --out DIR [--quick] [--seed N]   # writes DIR/<workload>/ and DIR/workloads.json
"""
import argparse
import json
import os
import random
from pathlib import Path

BASE_IMAGE = "busybox:latest"
# Context files get a fixed old mtime, as a checked-out tree has: a builder that compares
# stat data only sees the edit if it looks at more than size and mtime.
FIXED_MTIME_S = 1_700_000_000

# Full-size and --quick parameters.
SIZES = {
    "full": {"bigctx_files": 20_000, "bigctx_mb": 200, "bigfile_mb": 500, "bigfile_small": 1000,
             "manylayers_runs": 60, "multistage_rounds": 1_000_000},
    "quick": {"bigctx_files": 2_000, "bigctx_mb": 20, "bigfile_mb": 50, "bigfile_small": 200,
              "manylayers_runs": 20, "multistage_rounds": 100_000},
}

# 64 printable characters: text-like content that compresses to about 3/4, as source does.
TEXT_TABLE = bytes((b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n" * 4)[:256])


def text_bytes(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n).translate(TEXT_TABLE)


def write_file(path: Path, data: bytes, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    mtime_ns = FIXED_MTIME_S * 1_000_000_000 + rng.randrange(1_000_000_000)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def write_big_random(path: Path, megabytes: int, rng: random.Random) -> None:
    """Incompressible content, written in 1 MiB chunks so memory stays flat."""
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(rng.randbytes(1 << 20))
    os.utime(path, ns=(FIXED_MTIME_S * 10**9,) * 2)


def workload(name, changed, image_path, description, verify="equal"):
    """changed: context file to edit; image_path: where its content lands in the final image.
    verify 'equal': that image file must equal the edited file; 'prefix': must start with it."""
    return {"name": name, "context": name, "changed_file": changed, "image_path": image_path,
            "verify": verify, "description": description}


def gen_small(root: Path, rng: random.Random, size: dict) -> dict:
    ctx = root / "small"
    for i, name in enumerate(["config.txt", "main.sh", "lib.sh", "README"]):
        write_file(ctx / "app" / name, text_bytes(rng, 600 + 200 * i), rng)
    (ctx / "Dockerfile").write_text(f"""FROM {BASE_IMAGE}
ENV APP_HOME=/app LANG=C.UTF-8
LABEL org.example.bench="small" org.example.seed="fixed"
RUN mkdir -p /app && echo built > /app/built.txt
COPY app/ /app/
RUN wc -c /app/config.txt > /app/config.size
RUN ls -la /app > /app/listing.txt
WORKDIR /app
CMD ["cat", "/app/config.txt"]
""")
    return workload("small", "app/config.txt", "/app/config.txt",
                    "3 RUNs, a COPY of 4 small files, ENV/LABEL/WORKDIR/CMD")


def gen_bigctx(root: Path, rng: random.Random, size: dict) -> dict:
    ctx = root / "bigctx"
    count, total = size["bigctx_files"], size["bigctx_mb"] << 20
    mean = total // count
    # Sizes vary between 0 and 2x the mean; the last file absorbs the rounding.
    sizes = [rng.randrange(2 * mean) for _ in range(count - 1)]
    sizes.append(max(1, total - sum(sizes)))
    for i, n in enumerate(sizes):
        write_file(ctx / "src" / f"d{i % 50:02d}" / f"s{(i // 50) % 20:02d}" / f"f{i:05d}.txt",
                   text_bytes(rng, n), rng)
    changed = "src/d07/s03/f00157.txt"
    (ctx / "Dockerfile").write_text(f"""FROM {BASE_IMAGE}
COPY src/ /src/
RUN find /src -type f | wc -l > /src-count.txt
""")
    return workload("bigctx", changed, "/" + changed,
                    f"COPY of a {count}-file, {size['bigctx_mb']} MB context, then a RUN")


def gen_multistage(root: Path, rng: random.Random, size: dict) -> dict:
    ctx = root / "multistage"
    write_file(ctx / "a" / "input.txt", text_bytes(rng, 64), rng)
    write_file(ctx / "b" / "input.txt", text_bytes(rng, 64), rng)
    rounds = size["multistage_rounds"]

    # CPU-bound in one process: a busybox sh arithmetic loop (no fork per round: process
    # creation does not scale across cores in some VMs, which would hide the overlap being
    # measured), seeded from the input so that editing it changes the result.
    def chain(multiplier, out):
        return (f'h=$(cksum < /in/input.txt | cut -d" " -f1); i=0; '
                f'while [ $i -lt {rounds} ]; do h=$(( (h * {multiplier} + i) % 1000000007 )); i=$((i+1)); done; '
                f'{{ cat /in/input.txt; echo "$h"; }} > {out}')
    (ctx / "Dockerfile").write_text(f"""FROM {BASE_IMAGE} AS sums-a
COPY a/input.txt /in/input.txt
RUN {chain(31, "/out-a.txt")}

FROM {BASE_IMAGE} AS sums-b
COPY b/input.txt /in/input.txt
RUN {chain(37, "/out-b.txt")}

FROM {BASE_IMAGE}
COPY --from=sums-a /out-a.txt /result/a.txt
COPY --from=sums-b /out-b.txt /result/b.txt
CMD ["cat", "/result/a.txt", "/result/b.txt"]
""")
    return workload("multistage", "a/input.txt", "/result/a.txt",
                    f"two independent CPU-bound stages ({rounds} rounds of shell arithmetic each), then COPY --from both",
                    verify="prefix")


def gen_manylayers(root: Path, rng: random.Random, size: dict) -> dict:
    ctx = root / "manylayers"
    runs = size["manylayers_runs"]
    write_file(ctx / "marker.txt", text_bytes(rng, 256), rng)
    # The edited file is copied first, so a change to it must re-run every RUN after it.
    lines = [f"FROM {BASE_IMAGE}", "COPY marker.txt /layers/marker.txt"]
    for i in range(1, runs + 1):
        lines.append(f"RUN echo step-{i} > /layers/f{i:03d}")
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    return workload("manylayers", "marker.txt", "/layers/marker.txt",
                    f"a COPY, then {runs} RUN steps, each making a small file")


def gen_bigfile(root: Path, rng: random.Random, size: dict) -> dict:
    ctx = root / "bigfile"
    (ctx / "files").mkdir(parents=True)
    write_big_random(ctx / "big.bin", size["bigfile_mb"], rng)
    for i in range(size["bigfile_small"]):
        write_file(ctx / "files" / f"f{i:05d}.dat", rng.randbytes(16 << 10), rng)
    # The RUN deletes the files whose number ends in an even digit; f00001 survives it.
    (ctx / "Dockerfile").write_text(f"""FROM {BASE_IMAGE}
COPY big.bin /data/big.bin
COPY files/ /data/files/
RUN rm /data/files/*[02468].dat && ls /data/files | wc -l > /data/count.txt
""")
    return workload("bigfile", "files/f00001.dat", "/data/files/f00001.dat",
                    f"COPY of a {size['bigfile_mb']} MB incompressible file and {size['bigfile_small']} "
                    "16 KiB files, then a RUN deleting half of those")


GENERATORS = [gen_small, gen_bigctx, gen_multistage, gen_manylayers, gen_bigfile]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    size = SIZES[mode]
    args.out.mkdir(parents=True, exist_ok=True)
    workloads = []
    for index, gen in enumerate(GENERATORS):
        rng = random.Random(args.seed * 100 + index)  # one stream each: workloads stay independent
        workloads.append(gen(args.out, rng, size))
    manifest = {"seed": args.seed, "mode": mode, "base_image": BASE_IMAGE, "sizes": size,
                "workloads": workloads}
    (args.out / "workloads.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"generated {len(workloads)} workloads ({mode}) in {args.out}")


if __name__ == "__main__":
    main()
