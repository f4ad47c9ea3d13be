"""The three builders under test, behind one small interface, and the helpers they share.

Each builder can: reset() to an empty store that holds only the busybox base, give the argv of
a build, read one file back out of a built image (to catch stale rebuilds), and measure the
built image's size as the bytes of its layers as uncompressed tar (the one size all three can
be asked for in the same unit). A builder that cannot work here sets `unavailable` to the reason.
"""
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import threading
import tarfile
import tempfile
import zlib
from pathlib import Path

BASE = "busybox:latest"


class CommandFailed(Exception):
    pass


HELPER_TIMEOUT_S = 300


def descendants(pid: int) -> list:
    """Every live descendant of pid (also those in other sessions or pid namespaces)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    for victim in [pid] + descendants(pid):
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_bounded(argv, timeout, **popen_args) -> int:
    """Runs argv to completion, or kills it and everything it started after `timeout` seconds
    (a hung build must not stall the whole suite). Returns the exit status; None on timeout."""
    proc = subprocess.Popen(argv, **popen_args)
    # A watchdog thread kills on timeout while we block in wait(): Popen.wait(timeout=...)
    # polls with sleeps doubling up to 50 ms, which rounds a 35 ms build up to 63 ms.
    timed_out = threading.Event()

    def expire():
        timed_out.set()
        kill_tree(proc.pid)

    watchdog = threading.Timer(timeout, expire)
    watchdog.start()
    try:
        status = proc.wait()
        return None if timed_out.is_set() else status
    except BaseException:
        kill_tree(proc.pid)
        proc.wait()
        raise
    finally:
        watchdog.cancel()


def run(argv, env=None, log=None, capture=False, stdin=None, timeout=HELPER_TIMEOUT_S):
    """Runs an untimed helper command; raises CommandFailed with its output's tail."""
    with tempfile.TemporaryFile() as out:
        status = run_bounded(argv, timeout, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT)
        out.seek(0)
        output = out.read()
    if log is not None:
        with open(log, "ab") as f:
            f.write(b"$ " + " ".join(map(str, argv)).encode() + b"\n" + output)
    if status != 0:
        tail = output.decode(errors="replace").strip().splitlines()[-3:]
        what = f"timed out after {timeout} s" if status is None else f"exit {status}"
        raise CommandFailed(f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''}: {what}: {' | '.join(tail)}")
    return output if capture else None


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def count_layer_tar_bytes(stream, is_layer) -> int:
    """Sums the sizes of the layer tars inside a docker-archive read as a stream."""
    total = 0
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if member.isfile() and is_layer(member.name):
                total += member.size
    return total


def piped_layer_bytes(argv, env, is_layer) -> int:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        total = count_layer_tar_bytes(proc.stdout, is_layer)
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise CommandFailed(f"{' '.join(argv[:3])}: exit {rc}")
    return total


# --- reading an OCI image layout (strata's store) --------------------------------------------

def _normalise(name: str) -> str:
    name = name[2:] if name.startswith("./") else name
    return name.strip("/")


def _open_layer(blob: Path, media_type: str):
    if media_type.endswith("+gzip"):
        return gzip.open(blob, "rb")
    if media_type.endswith("+zstd"):
        proc = subprocess.Popen(["zstd", "-dc", str(blob)], stdout=subprocess.PIPE)
        return proc.stdout
    return open(blob, "rb")


class OciLayout:
    def __init__(self, root: Path):
        self.root = root

    def blob(self, digest: str) -> Path:
        algo, hexa = digest.split(":", 1)
        return self.root / "blobs" / algo / hexa

    def manifest(self, ref: str) -> dict:
        index = json.loads((self.root / "index.json").read_text())
        for desc in index["manifests"]:
            if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
                return json.loads(self.blob(desc["digest"]).read_text())
        raise CommandFailed(f"no image '{ref}' in {self.root}")

    def read_file(self, ref: str, path: str) -> bytes:
        """The file's content in the image: the topmost layer that has it or deletes it wins."""
        path = _normalise(path)
        ancestors = set()
        parts = path.split("/")
        for i in range(1, len(parts)):
            ancestors.add("/".join(parts[:i]))
        for layer in reversed(self.manifest(ref)["layers"]):
            hides_lower = False  # an opaque ancestor hides the layers below, not its own entries
            with _open_layer(self.blob(layer["digest"]), layer["mediaType"]) as f, \
                    tarfile.open(fileobj=f, mode="r|") as archive:
                for member in archive:
                    name = _normalise(member.name)
                    parent, _, base = name.rpartition("/")
                    if base == ".wh..wh..opq":
                        hides_lower = hides_lower or parent in ancestors
                    elif base.startswith(".wh."):
                        hidden = (parent + "/" if parent else "") + base[4:]
                        if hidden == path or hidden in ancestors:
                            raise CommandFailed(f"{path} is deleted in the image")
                    elif name == path:
                        if not member.isfile():
                            raise CommandFailed(f"{path} is not a regular file in the image")
                        return archive.extractfile(member).read()
            if hides_lower:
                break
        raise CommandFailed(f"{path} is not in the image")

    def layer_sizes(self, ref: str) -> tuple[int, int]:
        """(compressed bytes as stored, uncompressed tar bytes) of the image's layers."""
        compressed = uncompressed = 0
        for layer in self.manifest(ref)["layers"]:
            compressed += layer["size"]
            with _open_layer(self.blob(layer["digest"]), layer["mediaType"]) as f:
                while chunk := f.read(1 << 20):
                    uncompressed += len(chunk)
        return compressed, uncompressed


# --- the builders ------------------------------------------------------------------------------

class Builder:
    name = ""          # key in the results
    label = ""         # column title
    rss_note = ""      # which process the peak RSS is of
    unavailable = None  # reason, when it cannot work on this machine

    def __init__(self, work: Path, logs: Path):
        self.work, self.logs = work, logs

    def log(self, what: str) -> Path:
        return self.logs / f"{self.name}-{what}.log"

    def before_timed(self) -> None:
        """Called just before a timed cold build (resets the RSS high-water mark where needed)."""

    def peak_rss_kb(self, time_output_kb):
        return time_output_kb


class Strata(Builder):
    name, label = "strata", "strata"
    rss_note = "the strata process tree (daemonless; GNU time's maximum RSS: its largest process)"

    def __init__(self, work, logs, binary: Path, busybox_ctx: Path):
        super().__init__(work, logs)
        self.binary, self.busybox_ctx = binary, busybox_ctx
        self.root = work / "strata-root"      # the store each workload builds into, fresh each time
        self.base_root = work / "base-root"   # holds only the base: docker's and buildah's copy come from it
        self.env = {k: v for k, v in os.environ.items() if k != "STRATA_ROOT"}

    def build_base(self, root: Path) -> None:
        # As scripts/demo.sh does, with a fixed SOURCE_DATE_EPOCH so every copy of the base
        # (strata's, docker's, buildah's) is the same image.
        env = dict(self.env, SOURCE_DATE_EPOCH="1700000000")
        run([str(self.binary), "--root", str(root), "build", "-t", BASE, str(self.busybox_ctx)],
            env=env, log=self.log("setup"), timeout=60)  # it takes well under a second

    def reset(self) -> None:
        remove_tree(self.root)
        self.build_base(self.root)

    def build_argv(self, dockerfile: Path, context: Path, tag: str) -> list:
        return [str(self.binary), "--root", str(self.root), "build", "-f", str(dockerfile), "-t", tag, str(context)]

    def read_file(self, tag: str, path: str) -> bytes:
        return OciLayout(self.root / "oci").read_file(tag, path)

    def image_size(self, tag: str) -> dict:
        compressed, uncompressed = OciLayout(self.root / "oci").layer_sizes(tag)
        return {"layers_tar_bytes": uncompressed, "stored_compressed_bytes": compressed}

    def clear(self) -> None:
        remove_tree(self.root)


class Docker(Builder):
    name, label = "docker", "BuildKit"
    rss_note = "dockerd (BuildKit runs inside it; VmHWM reset through /proc/PID/clear_refs before the build)"

    def __init__(self, work, logs, host: str, pidfile: Path, base_archive: Path):
        super().__init__(work, logs)
        self.cli = "/usr/bin/docker"
        self.env = dict(os.environ, DOCKER_HOST=host, DOCKER_BUILDKIT="1")
        self.env.pop("DOCKER_CONFIG", None)
        self.pidfile = pidfile
        self.base_archive = base_archive

    def docker(self, *args, capture=False, what="setup"):
        return run([self.cli, *args], env=self.env, log=self.log(what), capture=capture)

    def setup(self) -> None:
        self.docker("load", "-i", str(self.base_archive))

    def dockerd_pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def before_timed(self) -> None:
        Path(f"/proc/{self.dockerd_pid()}/clear_refs").write_text("5")  # 5: reset the peak RSS

    def peak_rss_kb(self, time_output_kb):
        for line in Path(f"/proc/{self.dockerd_pid()}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def reset(self) -> None:
        images = self.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", capture=True).decode().split()
        doomed = [i for i in images if i not in (BASE, "docker.io/library/" + BASE)]
        self.docker("container", "prune", "-f")
        if doomed:
            self.docker("image", "rm", "-f", *doomed)
        self.docker("builder", "prune", "-af")
        self.docker("image", "prune", "-f")

    def build_argv(self, dockerfile, context, tag):
        return [self.cli, "build", "--network", "host", "--progress", "plain",
                "-f", str(dockerfile), "-t", tag, str(context)]

    def read_file(self, tag, path):
        return self.docker("run", "--rm", "--network", "none", "--entrypoint", "cat", tag, path,
                           capture=True, what="verify")

    def image_size(self, tag):
        return {"layers_tar_bytes": piped_layer_bytes([self.cli, "save", tag], self.env,
                                                      lambda n: n.endswith("/layer.tar"))}

    def clear(self) -> None:
        self.reset()


class Buildah(Builder):
    name, label = "buildah", "buildah"
    rss_note = "the buildah process tree (daemonless; GNU time's maximum RSS: its largest process)"

    def __init__(self, work, logs, base_layout: Path, driver: str):
        super().__init__(work, logs)
        self.base_layout = base_layout
        self.dir = work / "buildah"
        self.dir.mkdir(exist_ok=True)
        conf = self.dir / "containers.conf"
        # This machine withholds CAP_SYS_RESOURCE: no default ulimits; runc, never crun.
        conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
        tmp = self.dir / "tmp"  # buildah's temporary files, on the scratch fs (removed with it)
        tmp.mkdir(exist_ok=True)
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf), TMPDIR=str(tmp))
        self.driver = driver
        self.global_args = ["buildah", "--root", str(self.dir / "root"), "--runroot", str(self.dir / "run"),
                            "--storage-driver", driver]

    def buildah(self, *args, capture=False, what="setup"):
        return run([*self.global_args, *args], env=self.env, log=self.log(what), capture=capture)

    def setup(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.buildah("rm", "--all")
        self.buildah("rmi", "--all", "--force")
        # Local transports only: the base goes from strata's OCI layout into buildah's storage,
        # under the name `FROM busybox:latest` resolves to, and nothing is pulled. (`buildah pull
        # oci:PATH` would name the image after PATH, which fails when PATH has capitals.)
        storage = f"containers-storage:[{self.driver}@{self.dir / 'root'}+{self.dir / 'run'}]"
        run(["skopeo", "copy", "--quiet", f"oci:{self.base_layout}:{BASE}", f"{storage}docker.io/library/{BASE}"],
            env=self.env, log=self.log("setup"))

    def build_argv(self, dockerfile, context, tag):
        return [*self.global_args, "bud", "--layers", "--pull=never", "--network", "host",
                "--isolation", "oci", "-f", str(dockerfile), "-t", tag, str(context)]

    def read_file(self, tag, path):
        container = self.buildah("from", "--pull=never", tag, capture=True, what="verify").decode().split()[-1]
        try:
            mountpoint = self.buildah("mount", container, capture=True, what="verify").decode().strip()
            try:
                return (Path(mountpoint) / path.lstrip("/")).read_bytes()
            finally:
                self.buildah("umount", container, what="verify")
        finally:
            self.buildah("rm", container, what="verify")

    def image_size(self, tag):
        return {"layers_tar_bytes": piped_layer_bytes([*self.global_args, "push", tag, "docker-archive:/dev/stdout"],
                                                      self.env, lambda n: n.endswith(".tar"))}

    def clear(self) -> None:
        self.buildah("rm", "--all")
        self.buildah("rmi", "--all", "--force")
