#!/usr/bin/env python3
"""The benchmark driver: builds every workload with strata, BuildKit and buildah, interleaved.

For each run, for each workload, each builder in turn (A B C A B C ..., so that drift on the
machine affects all three alike) does, from a store that holds only the busybox base:
  cold build -> no-op rebuild -> rebuild after one context file changed.
The changed file keeps its old size and mtime (same-length content, then the old mtime set
back), and the rebuilt image's copy of that file is read back: a builder that trusted stat
alone produces a stale image, which counts as a failure. Then container start-up is timed:
`strata run IMG true`, `runc run` of an umoci bundle of the same image, `docker run --rm`.

Nothing here asserts anything: it writes raw.json and samples.csv for report.py.
Called by run.sh, which sets up the scratch filesystem and dockerd (see there).
"""
import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import limits
from builders import BASE, Buildah, CommandFailed, Docker, Strata, run, run_bounded

PHASES = ["cold", "noop", "change"]


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


BUILD_TIMEOUT_S = 600  # far beyond any build here (the slowest take about a minute): only a hang reaches it
STARTUP_TIMEOUT_S = 60


def cpu_times():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def settle(max_wait_s=5.0, window_s=0.25, idle_share=0.9):
    """Waits, at most max_wait_s, until the CPUs were idle for idle_share of a window: the
    previous build's leftovers (a daemon's background work, writeback) must not be timed as
    this build's. Every builder gets the same wait."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        busy0, total0 = cpu_times()
        time.sleep(window_s)
        busy1, total1 = cpu_times()
        if total1 > total0 and (busy1 - busy0) / (total1 - total0) <= 1 - idle_share:
            return True
    return False


def timed(argv, env, log: Path, rss_file: Path):
    """Runs one build under /usr/bin/time; returns (seconds, ok, max RSS in KiB, error tail,
    whether the CPUs were idle just before it: False means something else was running)."""
    os.sync()  # the previous step's dirty pages are written back outside the timed window
    idle_before = settle()
    rss_file.unlink(missing_ok=True)
    argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv]
    with open(log, "ab") as out:
        out.write(b"$ " + " ".join(argv).encode() + b"\n")
        out.flush()
        start = time.monotonic()
        status = run_bounded(argv, BUILD_TIMEOUT_S, env=env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - start
    rss = None
    try:
        rss = int(rss_file.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        pass
    error = None
    if status != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        error = (f"hung: killed after {BUILD_TIMEOUT_S} s" if status is None else f"exit {status}") + ": " + " | ".join(tail)
    return seconds, status == 0, rss, error, idle_before


class ContextFile:
    """The workload's one edited file: its original bytes and mtime, to edit and to restore."""

    def __init__(self, path: Path):
        self.path = path
        self.original = path.read_bytes()
        st = path.stat()
        self.times_ns = (st.st_atime_ns, st.st_mtime_ns)

    def restore(self) -> None:
        self.path.write_bytes(self.original)
        os.utime(self.path, ns=self.times_ns)

    def edit(self, marker: str) -> bytes:
        """Same length, same mtime, new content: only content (or ctime) reveals the change."""
        stamp = marker.encode()[: len(self.original)]
        new = stamp + self.original[len(stamp):]
        assert len(new) == len(self.original) and new != self.original
        self.path.write_bytes(new)
        os.utime(self.path, ns=self.times_ns)
        return new


def content_ok(image_bytes: bytes, expected: bytes, mode: str) -> bool:
    return image_bytes == expected if mode == "equal" else image_bytes.startswith(expected)


def verify(builder, tag, workload, expected):
    """(fresh?, note). fresh is None when the file could not be read back."""
    try:
        got = builder.read_file(tag, workload["image_path"])
    except (CommandFailed, OSError) as e:
        return None, f"could not read {workload['image_path']}: {e}"
    if content_ok(got, expected, workload["verify"]):
        return True, ""
    return False, f"{workload['image_path']} in the image has the old content"


def bench_workload(builder, workload, wl_dir: Path, run_index: int, logs: Path, want_size: bool, problems: list):
    """The three timed builds of one workload by one builder. Returns its sample records;
    appends what went wrong outside the timed builds to `problems`."""
    context = wl_dir / workload["context"]
    dockerfile = context / "Dockerfile"
    tag = f"bench-{workload['name']}:latest"
    changed = ContextFile(context / workload["changed_file"])
    changed.restore()
    records = []

    idle = {"before": None}  # the last timed build's: were the CPUs idle before it started?

    def record(phase, seconds, ok, rss=None, error=None, fresh=None, note=""):
        records.append({"run": run_index, "workload": workload["name"], "builder": builder.name,
                        "phase": phase, "seconds": round(seconds, 4) if seconds is not None else None,
                        "ok": ok, "peak_rss_kb": rss, "fresh": fresh, "error": error or note or None,
                        "loadavg": round(os.getloadavg()[0], 2), "idle_before": idle["before"]})

    log = logs / f"{builder.name}-{workload['name']}-run{run_index}.log"
    rss_file = logs / "rss.tmp"
    size = None
    for attempt in (1, 2):  # the reset is untimed set-up: one retry, and the failure is reported
        try:
            builder.reset()
            break
        except CommandFailed as e:
            problems.append({"run": run_index, "workload": workload["name"], "builder": builder.name,
                             "what": f"resetting the store (attempt {attempt}/2) failed: {e}"})
            say(f"    reset failed (attempt {attempt}/2): {e}")
    else:
        record("cold", None, False, error="resetting the store failed twice (see the problems below)")
        for phase in PHASES[1:]:
            record(phase, None, False, error="cold build failed")
        return records, size
    try:
        builder.before_timed()
        seconds, ok, rss, error, idle["before"] = timed(builder.build_argv(dockerfile, context, tag), builder.env, log, rss_file)
        fresh, note = verify(builder, tag, workload, changed.original) if ok else (None, "")
        record("cold", seconds, ok and fresh is not False, builder.peak_rss_kb(rss), error, fresh, note)
        if not ok:
            for phase in PHASES[1:]:
                record(phase, None, False, error="cold build failed")
            return records, size
        if want_size:
            try:
                size = builder.image_size(tag)
            except (CommandFailed, OSError) as e:
                size = {"error": str(e)}

        seconds, ok, rss, error, idle["before"] = timed(builder.build_argv(dockerfile, context, tag), builder.env, log, rss_file)
        record("noop", seconds, ok, rss, error)

        expected = changed.edit(f"CHANGED run{run_index} {builder.name}\n")
        seconds, ok, rss, error, idle["before"] = timed(builder.build_argv(dockerfile, context, tag), builder.env, log, rss_file)
        fresh, note = verify(builder, tag, workload, expected) if ok else (None, "")
        record("change", seconds, ok and fresh is True, rss, error, fresh, note)
    finally:
        changed.restore()
        try:
            builder.clear()  # frees the scratch space before the next builder's turn
        except CommandFailed as e:
            say(f"{builder.name}: clearing after {workload['name']} failed: {e}")
    return records, size


# --- container start-up -------------------------------------------------------------------------

def startup_commands(strata, docker, work: Path, logs: Path):
    """name -> argv factory for `IMAGE true`; runc gets an umoci bundle of strata's base image."""
    commands = {"strata run": lambda i: [str(strata.binary), "--root", str(strata.base_root), "run", BASE, "true"]}
    bundle, runc_root = work / "runc-bundle", work / "runc-state"
    try:
        run(["umoci", "unpack", "--image", f"{strata.base_root / 'oci'}:{BASE}", str(bundle)], log=logs / "runc-setup.log")
        config_path = bundle / "config.json"
        config = json.loads(config_path.read_text())
        config["process"]["terminal"] = False
        config["process"]["args"] = ["true"]
        config_path.write_text(json.dumps(config))
        commands["runc run"] = lambda i: ["runc", "--root", str(runc_root), "run", "--bundle", str(bundle), f"bench-{i}"]
    except CommandFailed as e:
        say(f"runc bundle: {e}")
    if docker is not None and docker.unavailable is None:
        commands["docker run"] = lambda i: [docker.cli, "run", "--rm", "--network", "none", BASE, "true"]
    return commands


def bench_startup(commands, env_for, repeats: int, run_index: int, logs: Path, counter):
    samples = []
    for _ in range(repeats):
        for name, argv_of in commands.items():  # interleaved, like the builds
            counter[0] += 1
            argv = argv_of(counter[0])
            with tempfile.TemporaryFile() as err:
                start = time.monotonic()
                status = run_bounded(argv, STARTUP_TIMEOUT_S, env=env_for(name), stdout=subprocess.DEVNULL,
                                     stderr=err, stdin=subprocess.DEVNULL)
                seconds = time.monotonic() - start
                err.seek(0)
                error = None
                if status != 0:
                    error = f"exit {status}: " + err.read().decode(errors="replace").strip()[-300:]
                    with open(logs / "startup-errors.log", "a") as f:
                        f.write(f"{name}: {error}\n")
            samples.append({"run": run_index, "command": name, "seconds": round(seconds, 4),
                            "ok": status == 0, "error": error})
    return samples


# --- setup --------------------------------------------------------------------------------------

def versions(strata_bin: Path, repo: Path, strata_commit: str) -> dict:
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"
    if strata_commit:  # the binary was built elsewhere, from the commit the caller names
        source = first_line(["git", "-C", str(repo), "log", "-1", "--format=%h %cs %s", strata_commit])
    elif strata_bin.is_relative_to(repo):
        source = first_line(["git", "-C", str(repo), "log", "-1", "--format=%h %cs %s"])
        if first_line(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"]) not in ("", "unknown"):
            source += ", work tree modified"
    else:
        source = "unknown: built outside the repository (set STRATA_COMMIT)"
    return {
        "strata": f"`{strata_bin}`, built from commit {source}",
        "docker": first_line(["dockerd", "--version"]),
        "buildkit": "the BuildKit vendored in dockerd 20.10 (0.8.x)",
        "buildah": first_line(["buildah", "--version"]),
        "runc": first_line(["runc", "--version"]),
        "kernel": platform.release(),
    }


def machine() -> dict:
    mem_kb = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "mem_gib": round(mem_kb / 2**20, 1),
            "loadavg_start": os.getloadavg()[0]}


def make_builders(args, logs: Path):
    strata = Strata(args.work, logs, args.strata, args.busybox_ctx)
    strata.build_base(strata.base_root)
    result = [strata]

    docker = Docker(args.work, logs, args.docker_host, args.dockerd_pidfile, args.work / "busybox-docker.tar")
    if args.docker_unavailable:
        docker.unavailable = args.docker_unavailable
    else:
        try:
            run(["skopeo", "copy", f"oci:{strata.base_root / 'oci'}:{BASE}",
                 f"docker-archive:{docker.base_archive}:{BASE}"], log=logs / "docker-setup.log")
            docker.setup()
        except CommandFailed as e:
            docker.unavailable = f"loading the base image failed: {e}"
    result.append(docker)

    buildah = None
    for driver in ("overlay", "vfs"):  # overlay preferred; vfs if overlay cannot work here
        candidate = Buildah(args.work, logs, strata.base_root / "oci", driver)
        try:
            candidate.setup()
            probe = args.work / "buildah-probe"
            probe.mkdir(exist_ok=True)
            (probe / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo ok > /probe\n")
            run(candidate.build_argv(probe / "Dockerfile", probe, "probe:latest"), env=candidate.env,
                log=logs / "buildah-setup.log")
            candidate.clear()
            buildah = candidate
            break
        except CommandFailed as e:
            candidate.unavailable = f"buildah with the {driver} driver failed: {e}"
            buildah = candidate
    result.append(buildah)
    for b in result:
        say(f"{b.label}: " + (f"UNAVAILABLE: {b.unavailable}" if b.unavailable else "ready"))
    return result


def write_csv(path: Path, rows: list) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description="strata vs BuildKit vs buildah (run through bench/run.sh)")
    ap.add_argument("--work", type=Path, required=True, help="scratch directory on the loop-mounted fs")
    ap.add_argument("--workloads", type=Path, required=True, help="output of gen_workloads.py")
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--startup-repeats", type=int, default=10)
    ap.add_argument("--strata", type=Path, required=True)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--busybox-ctx", type=Path, required=True)
    ap.add_argument("--docker-host", default="")
    ap.add_argument("--dockerd-pidfile", type=Path, default=Path("/nonexistent"))
    ap.add_argument("--docker-unavailable", default="")
    ap.add_argument("--command-line", default="")
    ap.add_argument("--strata-commit", default="", help="the commit the strata binary was built from")
    args = ap.parse_args()

    logs = args.results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((args.workloads / "workloads.json").read_text())
    started = time.time()
    info = machine()  # load average at the start
    say(f"mode {manifest['mode']}, {args.runs} run(s), scratch {args.work}")

    all_builders = make_builders(args, logs)
    ready = [b for b in all_builders if b.unavailable is None]
    strata, docker = all_builders[0], all_builders[1]

    say("measuring this machine's limits")
    machine_limits = limits.measure(args.work, args.workloads, manifest)

    samples, sizes, startup, problems = [], {}, [], []
    commands = startup_commands(strata, docker, args.work, logs)
    env_for = lambda name: docker.env if name == "docker run" else os.environ  # noqa: E731
    counter = [0]
    for run_index in range(args.runs):
        for workload in manifest["workloads"]:
            for builder in ready:
                say(f"run {run_index + 1}/{args.runs}: {workload['name']} with {builder.label}")
                records, size = bench_workload(builder, workload, args.workloads, run_index, logs,
                                               want_size=run_index == 0, problems=problems)
                samples += records
                if size is not None:
                    sizes.setdefault(workload["name"], {})[builder.name] = size
                for r in records:
                    status = "ok" if r["ok"] else f"FAILED ({(r['error'] or '')[:150]})"
                    secs = f"{r['seconds']:.3f}s" if r["seconds"] is not None else "-"
                    say(f"    {r['phase']:6} {secs:>9}  {status}")
        say(f"run {run_index + 1}/{args.runs}: container start-up x{args.startup_repeats}")
        startup += bench_startup(commands, env_for, args.startup_repeats, run_index, logs, counter)
        for name in commands:
            secs = [s["seconds"] for s in startup if s["command"] == name and s["ok"] and s["run"] == run_index]
            say(f"    {name:10} median {statistics.median(secs):.3f}s" if secs else f"    {name:10} FAILED")

    info["loadavg_end"] = os.getloadavg()[0]
    raw = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "duration_s": round(time.time() - started, 1),
        "command_line": args.command_line,
        "mode": manifest["mode"], "runs": args.runs, "seed": manifest["seed"], "sizes": manifest["sizes"],
        "workloads": manifest["workloads"],
        "machine": info, "versions": versions(args.strata, args.repo, args.strata_commit),
        "builders": [{"name": b.name, "label": b.label, "unavailable": b.unavailable, "rss_note": b.rss_note,
                      "storage": getattr(b, "driver", None)} for b in all_builders],
        "limits": machine_limits,
        "samples": samples, "image_sizes": sizes, "startup": startup, "problems": problems,
    }
    (args.results / "raw.json").write_text(json.dumps(raw, indent=1) + "\n")
    write_csv(args.results / "samples.csv", samples)
    write_csv(args.results / "startup.csv", startup)
    say(f"wrote {args.results / 'raw.json'} ({raw['duration_s']} s)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        say("interrupted: nothing written")
        sys.exit(130)
