#!/usr/bin/env python3
"""Turns bench.py's raw.json into the markdown results page (docs/benchmarks.md) and a CSV of
the medians. Measurement only: the issue's targets are shown as met or missed, never asserted.

    report.py RAW.json --out FILE.md [--csv FILE.csv]
"""
import argparse
import csv
import json
import statistics
from pathlib import Path

MiB = 1 << 20
PHASE_TITLES = {"cold": "cold build", "noop": "no-op rebuild", "change": "1 file changed"}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_s(seconds):
    if seconds is None:
        return "–"
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}x"


class Results:
    def __init__(self, raw: dict):
        self.raw = raw
        self.builders = raw["builders"]
        self.by_name = {b["name"]: b for b in self.builders}

    def samples(self, workload, builder, phase):
        return [s for s in self.raw["samples"]
                if s["workload"] == workload and s["builder"] == builder and s["phase"] == phase]

    def phase_summary(self, workload, builder, phase):
        """(median seconds of the builds that ran, n ran, n stale, n failed, n total)."""
        rows = self.samples(workload, builder, phase)
        ran = [s for s in rows if s["seconds"] is not None and (s["ok"] or s["fresh"] is False)]
        stale = sum(1 for s in rows if s["fresh"] is False)
        failed = sum(1 for s in rows if not s["ok"] and s["fresh"] is not False)
        return median([s["seconds"] for s in ran]), len(ran), stale, failed, len(rows)

    def median_time(self, workload, builder, phase):
        """The median only where every sample built and was fresh: what ratios and targets use."""
        value, _, stale, failed, total = self.phase_summary(workload, builder, phase)
        return value if total and not stale and not failed else None

    def cell(self, workload, builder, phase):
        info = self.by_name[builder]
        if info["unavailable"]:
            return "n/a¹"
        value, ran, stale, failed, total = self.phase_summary(workload, builder, phase)
        if not total:
            return "–"
        if not ran:
            return f"**FAILED {failed}/{total}**"
        flags = []
        if stale:
            flags.append(f"**STALE {stale}/{total}**")
        if failed:
            flags.append(f"**failed {failed}/{total}**")
        return fmt_s(value) + (" " + ", ".join(flags) if flags else "")

    def rss(self, workload, builder):
        return median([s["peak_rss_kb"] for s in self.samples(workload, builder, "cold") if s["ok"]])


def targets(res: Results):
    """The issue's target lines: (workload, phase, text, value, met)."""
    out = []
    for wl in res.raw["workloads"]:
        name = wl["name"]
        limit = 0.1 if name == "bigctx" else 0.05
        value = res.median_time(name, "strata", "noop")
        out.append((name, "noop", f"strata no-op rebuild ≤ {limit} s", fmt_s(value),
                    None if value is None else value <= limit))
    for name, factor in (("manylayers", 0.5), ("bigfile", 0.6)):
        s, d = res.median_time(name, "strata", "cold"), res.median_time(name, "docker", "cold")
        ratio = s / d if s is not None and d else None
        out.append((name, "cold", f"strata cold build ≤ {factor}x BuildKit",
                    "–" if ratio is None else f"{ratio:.2f}x", None if ratio is None else ratio <= factor))
    # Independent stages overlap: the cold build (both stages) takes about as long as the
    # one-file rebuild, which reruns one stage only.
    cold, one = res.median_time("multistage", "strata", "cold"), res.median_time("multistage", "strata", "change")
    ratio = cold / one if cold is not None and one else None
    out.append(("multistage", "overlap", "strata cold build (2 stages) ≤ 1.25x its 1-stage rebuild",
                "–" if ratio is None else f"{ratio:.2f}x", None if ratio is None else ratio <= 1.25))
    rss = res.rss("bigfile", "strata")
    out.append(("bigfile", "rss", "strata peak RSS < 100 MiB while writing the big layer",
                "–" if rss is None else f"{rss / 1024:.0f} MiB", None if rss is None else rss < 100 * 1024))
    return out


def verdict(met):
    return "–" if met is None else ("met" if met else "**missed**")


def builds_table(res: Results, lines: list, csv_rows: list):
    names = [b["name"] for b in res.builders]
    labels = [b["label"] for b in res.builders]
    target_of = {(t[0], t[1]): f"{t[2]}: {verdict(t[4])}" for t in targets(res)}
    lines.append("| workload | measure | " + " | ".join(labels) + " | strata/BuildKit | strata/buildah | issue target |")
    lines.append("|---|---|" + "---:|" * len(labels) + "---:|---:|---|")
    sizes = res.raw["image_sizes"]
    for wl in res.raw["workloads"]:
        w = wl["name"]
        for phase in ("cold", "noop", "change"):
            cells = [res.cell(w, b, phase) for b in names]
            medians = {b: res.median_time(w, b, phase) for b in names}
            lines.append(f"| {w} | {PHASE_TITLES[phase]} | " + " | ".join(cells) + " | "
                         f"{fmt_ratio(medians['strata'], medians.get('docker'))} | "
                         f"{fmt_ratio(medians['strata'], medians.get('buildah'))} | {target_of.get((w, phase), '')} |")
            for b in names:
                csv_rows.append({"workload": w, "measure": phase + "_s", "builder": b, "median": medians[b],
                                 "cell": res.cell(w, b, phase)})
        rss = {b: res.rss(w, b) for b in names}
        lines.append(f"| {w} | peak RSS² | " + " | ".join(
            "n/a¹" if res.by_name[b]["unavailable"] else
            ("–" if rss[b] is None else f"{rss[b] / 1024:.0f} MiB") for b in names) + " | "
            f"{fmt_ratio(rss['strata'], rss.get('docker'))} | {fmt_ratio(rss['strata'], rss.get('buildah'))} | |")
        size = {b: sizes.get(w, {}).get(b, {}) for b in names}
        tar = {b: size[b].get("layers_tar_bytes") for b in names}

        def size_cell(b):
            if res.by_name[b]["unavailable"]:
                return "n/a¹"
            if tar[b] is None:
                return "–"
            text = f"{tar[b] / MiB:.1f} MiB"
            if "stored_compressed_bytes" in size[b]:
                text += f" ({size[b]['stored_compressed_bytes'] / MiB:.1f} gz)"
            return text
        lines.append(f"| {w} | image size³ | " + " | ".join(size_cell(b) for b in names) + " | "
                     f"{fmt_ratio(tar['strata'], tar.get('docker'))} | {fmt_ratio(tar['strata'], tar.get('buildah'))} | |")
        for b in names:
            csv_rows.append({"workload": w, "measure": "peak_rss_kb", "builder": b, "median": rss[b], "cell": ""})
            csv_rows.append({"workload": w, "measure": "layers_tar_bytes", "builder": b, "median": tar[b], "cell": ""})


def startup_table(res: Results, lines: list, csv_rows: list):
    commands = list(dict.fromkeys(s["command"] for s in res.raw["startup"]))
    if not commands:
        lines.append("(not measured)")
        return
    stats = {}
    for c in commands:
        rows = [s for s in res.raw["startup"] if s["command"] == c]
        ok = [s["seconds"] for s in rows if s["ok"]]
        stats[c] = (median(ok), min(ok) if ok else None, max(ok) if ok else None, len(rows) - len(ok), len(rows))
    base = stats.get("strata run", (None,))[0]
    lines.append("| command | median | min | max | failed | strata run / this |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for c, (med, lo, hi, failed, total) in stats.items():
        lines.append(f"| `{c} … true` | {fmt_s(med)} | {fmt_s(lo)} | {fmt_s(hi)} | {failed}/{total} | {fmt_ratio(base, med)} |")
        csv_rows.append({"workload": "startup", "measure": "seconds", "builder": c, "median": med, "cell": ""})


def limits_table(res: Results, lines: list):
    lim = res.raw["limits"]
    rows = [
        ("sha256, OpenSSL EVP (`openssl speed -evp sha256`, 1 MiB blocks)", lim.get("openssl_sha256_mibs")),
        ("sha256sum of the bigfile's big.bin (coreutils)", lim.get("sha256sum_bigfile_mibs")),
        (f"gzip -6, 1 thread, incompressible ({lim['sample_mib']} MiB of big.bin)", lim.get("gzip6_random_mibs")),
        (f"gzip -6, 1 thread, text ({lim['sample_mib']} MiB of bigctx)", lim.get("gzip6_text_mibs")),
        ("zstd -3, 1 thread, incompressible", lim.get("zstd3_random_mibs")),
        ("zstd -3, 1 thread, text", lim.get("zstd3_text_mibs")),
        (f"disk write, `dd bs=1M count={lim['dd_mib']} conv=fsync` on the scratch ext4", lim.get("dd_fsync_write_mibs")),
    ]
    lines.append("| what | MiB/s |")
    lines.append("|---|---:|")
    for what, value in rows:
        lines.append(f"| {what} | {'–' if value is None else f'{value:.0f}'} |")


def bigfile_closeness(res: Results, lines: list):
    wl = next((w for w in res.raw["workloads"] if w["name"] == "bigfile"), None)
    if wl is None:
        return
    sizes = res.raw["sizes"]
    context_mib = sizes["bigfile_mb"] + sizes["bigfile_small"] * 16 / 1024
    lim = res.raw["limits"]
    lines.append(f"The bigfile context is {context_mib:.0f} MiB (almost all of it incompressible). "
                 "Its cold build, as MiB of context per second of build, against the machine's limits:")
    lines.append("")
    lines.append("| builder | cold build | MiB/s | vs gzip -6 (1 thread) | vs gzip -6 x 2 cores | vs sha256 | vs disk write |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    gz, sha, disk = lim.get("gzip6_random_mibs"), lim.get("openssl_sha256_mibs"), lim.get("dd_fsync_write_mibs")
    for b in res.builders:
        t = res.median_time("bigfile", b["name"], "cold")
        if t is None:
            continue
        rate = context_mib / t

        def pct(limit):
            return f"{100 * rate / limit:.0f}%" if limit else "–"
        lines.append(f"| {b['label']} | {fmt_s(t)} | {rate:.0f} | {pct(gz)} | {pct(2 * gz if gz else None)} | "
                     f"{pct(sha)} | {pct(disk)} |")
    lines.append("")
    lines.append("strata compresses each layer (gzip) as it writes it; BuildKit and buildah store layers "
                 "uncompressed and compress only on push, so they are bound by the disk rather than by gzip.")


def shorten(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def problems(res: Results, lines: list):
    for b in res.builders:
        if b["unavailable"]:
            lines.append(f"- ¹ {b['label']} could not run on this machine: {shorten(b['unavailable'], 400)}")
    samples = res.raw["samples"]
    # Stale images: one line per builder and phase, with the workloads where they happened.
    stale = {}
    for s in samples:
        if s["fresh"] is False:
            stale.setdefault((s["builder"], s["phase"]), []).append(s["workload"])
    for (builder, phase), workloads in stale.items():
        counts = ", ".join(f"{w} {workloads.count(w)}/{res.raw['runs']}" for w in dict.fromkeys(workloads))
        lines.append(f"- {res.by_name[builder]['label']}, {PHASE_TITLES[phase]}: the image held the file's "
                     f"OLD content (a stale build) in {counts}.")
    # Failed builds: one line per builder, workload and message; the phases skipped after a
    # failed cold build are not repeated.
    seen = {}
    for s in samples:
        if s["ok"] or s["fresh"] is False or s["error"] in ("cold build failed", None):
            continue
        key = (s["builder"], s["workload"], s["phase"], shorten(s["error"]))
        seen[key] = seen.get(key, 0) + 1
    for (builder, workload, phase, error), n in seen.items():
        lines.append(f"- {res.by_name[builder]['label']}, {workload}, {PHASE_TITLES[phase]} ({n}x): {error}")
    for p in res.raw.get("problems", []):
        lines.append(f"- {res.by_name[p['builder']]['label']}, {p['workload']}, run {p['run'] + 1}, "
                     f"outside the timed builds: {shorten(p['what'])}")
    failed_starts = {}
    for s in res.raw["startup"]:
        if not s["ok"]:
            failed_starts.setdefault(s["command"], shorten(s["error"] or ""))
    for command, error in failed_starts.items():
        lines.append(f"- `{command}` failed: {error}")
    if not (stale or seen or res.raw.get("problems") or failed_starts):
        lines.append("- None: every build succeeded, and every rebuilt image held the edited file's new content.")


def render(raw: dict, raw_dir: str, csv_rows: list) -> str:
    res = Results(raw)
    m, v = raw["machine"], raw["versions"]
    loads = [x["loadavg"] for x in raw["samples"] if x.get("loadavg") is not None]
    mode_note = " — **quick mode: small sizes, a smoke test, not a measurement**" if raw["mode"] == "quick" else ""
    lines = [
        "# Benchmarks: strata vs BuildKit vs buildah",
        "",
        f"Generated by `{raw['command_line'].strip()}` on {raw['generated']} "
        f"({raw['duration_s'] / 60:.0f} min){mode_note}. Do not edit by hand: run the suite again.",
        "",
        f"- Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB RAM, kernel {v['kernel']}; "
        f"load average {m['loadavg_start']:.2f} at the start, {m['loadavg_end']:.2f} at the end"
        + (f", median {statistics.median(loads):.2f} just after the builds (their own processes included)."
           if loads else "."),
        f"- strata: {v['strata']}",
        f"- BuildKit: {v['buildkit']}, {v['docker']}; buildah: {v['buildah']}; {v['runc']}",
        f"- Storage: everything on a fresh loop-mounted ext4; buildah's driver: "
        f"{res.by_name.get('buildah', {}).get('storage') or '–'}, docker's: overlay2.",
        f"- Workloads generated by `bench/gen_workloads.py` (seed {raw['seed']}):",
    ]
    for wl in raw["workloads"]:
        lines.append(f"  - **{wl['name']}**: {wl['description']}; the edited file is `{wl['changed_file']}`.")
    # Before each timed build the driver waits (up to 5 s) for the CPUs to be 90% idle; a build
    # that started without that had something else running beside it. The load average is no
    # such sign: the builders' own processes and writeback count in it.
    checked = [x for x in raw["samples"] if x.get("idle_before") is not None]
    busy = [x for x in checked if not x["idle_before"]]
    if busy:
        lines += ["", f"**The machine was busy during this run**: the CPUs were not idle before {len(busy)} of "
                  f"{len(checked)} timed builds (other jobs, or a daemon's work left over from the build "
                  "before): those times are inflated, and ratios between builders, measured interleaved, "
                  "are the more meaningful numbers."]
    elif checked:
        lines += ["", f"The CPUs were idle before each of the {len(checked)} timed builds."]
    lines += [
        "",
        "## Builds",
        "",
        f"Median of {raw['runs']} run(s). Each run builds every workload with the three builders in "
        "turn (strata, BuildKit, buildah, strata, …) so that drift affects all alike. **cold**: a store "
        "holding only the busybox base; **no-op**: the same build again; **1 file changed**: one "
        "context file rewritten with same-length content and its old mtime set back, then built "
        "again; the image's copy of that file is read back, and an image holding the old content "
        "counts as **STALE** (a failure: no ratio or target is computed from it). Ratios below 1 "
        "mean strata is faster (or smaller).",
        "",
    ]
    builds_table(res, lines, csv_rows)
    lines += [
        "",
        "¹ not available on this machine (see Problems).  ",
        "² peak RSS during the cold build: " + "; ".join(f"{b['label']}: {b['rss_note']}" for b in res.builders) + ".  ",
        "³ the image's layers as uncompressed tar (`docker save`, `buildah push docker-archive:`, strata's "
        "blobs decompressed), base included, from the first run; for strata also the gzip blobs it stores.",
        "",
        "## The issue's targets",
        "",
        "| workload | target | measured | |",
        "|---|---|---:|---|",
    ]
    for workload, _, text, value, met in targets(res):
        lines.append(f"| {workload} | {text} | {value} | {verdict(met)} |")
    lines += ["", "## Container start-up", "",
              f"`IMAGE true` on the busybox base, {len(raw['startup'])} runs in all, interleaved. runc runs "
              "an `umoci unpack`ed bundle of the same image (no image handling at all: the floor); "
              "docker runs with `--network none`.", ""]
    startup_table(res, lines, csv_rows)
    lines += ["", "## This machine's limits", ""]
    limits_table(res, lines)
    lines.append("")
    bigfile_closeness(res, lines)
    lines += ["", "## Problems", ""]
    problems(res, lines)
    lines += [
        "",
        "## Caveats",
        "",
        "- Wall-clock times of the client command (`strata build`, `docker build`, `buildah bud`), "
        "with the context and base in the page cache; `sync` runs before each timed build so "
        "that one build's writeback does not land in the next one's time.",
        "- BuildKit's times include sending the context to dockerd over its socket; its cold "
        "store is made with `docker builder prune -af` and removing the images, not a new data-root.",
        "- Peak RSS measures different things: strata and buildah are daemonless, so it is their "
        "own largest process; for BuildKit it is dockerd (which hosts BuildKit), whose baseline "
        "includes the idle daemon.",
        "- BuildKit runs independent stages in parallel; buildah `bud` runs them one after the "
        "other (its `--jobs` is left at the default).",
        "- Other jobs may share this 2-core machine; the idle check above says whether they ran. "
        "Interleaving spreads that noise over all three builders, but a small number of runs "
        "cannot remove it: differences under ~10% are within noise.",
        f"- Raw samples: `{raw_dir}/raw.json` and `samples.csv`; build logs in `{raw_dir}/logs/`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args()
    raw = json.loads(args.raw.read_text())
    csv_rows = []
    repo = Path(__file__).resolve().parents[1]
    raw_dir = args.raw.resolve().parent
    raw_dir = raw_dir.relative_to(repo) if raw_dir.is_relative_to(repo) else raw_dir
    text = render(raw, str(raw_dir), csv_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["workload", "measure", "builder", "median", "cell"])
            writer.writeheader()
            writer.writerows(csv_rows)
    print(text)


if __name__ == "__main__":
    main()
