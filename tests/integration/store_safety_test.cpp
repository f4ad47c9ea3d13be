// The store survives what users do to it, through the real binary: strata SIGKILLed in
// the middle of a build (while it writes a layer, too), a prune and a load leaves a store
// that fsck finds undamaged and that the next build, load and run use; builds and a
// prune at once on one store lose no tag; and fsck finds a corrupt blob, a missing blob
// and a dangling tag, which --repair removes while the good images still run. Also the
// layer codecs end to end: zstd layers built, cached apart from gzip ones, saved, loaded, run.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace store_safety_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// strata started in the background with its output (stdout and stderr) on a pipe, so a
// test can wait for a line and kill it at that moment.
class Background {
public:
    explicit Background(const std::string& command) {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(fds[1], 1);
            ::dup2(fds[1], 2);
            ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(fds[1]);
        out_ = fds[0];
        started_ = std::chrono::steady_clock::now();
    }
    ~Background() {
        if (pid_ > 0) kill_now();
        ::close(out_);
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    // Reads output until `text` shows up (true), the process closes its output, or the time is up.
    bool wait_for(const std::string& text, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (output_.find(text) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
        }
        return true;
    }
    // Lets it run until `delay` after it started.
    void run_until(std::chrono::milliseconds delay) {
        while (std::chrono::steady_clock::now() < started_ + delay) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(started_ + delay - std::chrono::steady_clock::now());
            if (!read_some(static_cast<int>(std::max<long>(1, left.count())))) std::this_thread::sleep_for(1ms);
        }
    }
    // SIGKILL (a no-op if it has exited) and reap; returns the wait status.
    int kill_now() {
        ::kill(pid_, SIGKILL);
        return reap();
    }
    int wait() {
        while (read_some(-1)) {
        }
        const int status = reap();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    const std::string& output() const { return output_; }

private:
    bool read_some(int timeout_ms) {
        pollfd p{out_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;  // timed out
        char buf[4096];
        const ssize_t n = ::read(out_, buf, sizeof buf);
        if (n <= 0) return false;
        output_.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    int reap() {
        int status = 0;
        if (pid_ > 0) ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }

    pid_t pid_ = -1;
    int out_ = -1;
    std::string output_;
    std::chrono::steady_clock::time_point started_;
};

std::vector<std::string> problem_lines(const std::string& fsck_output) {
    std::vector<std::string> out;
    std::istringstream lines(fsck_output);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line.rfind("Checked ", 0) == 0 || line.rfind("Unreferenced: ", 0) == 0 ||
            line.rfind("No problems", 0) == 0 || line.find(" problems found") != std::string::npos || line.rfind("strata:", 0) == 0)
            continue;
        out.push_back(line);
    }
    return out;
}

// After a crash, fsck must find no damage. The one thing a kill may leave is the temp
// file of a write it cut short (a window of microseconds); such leftovers, and only
// they, are allowed, and --repair must remove them.
void require_undamaged(const BusyboxStore& s, const std::string& when) {
    INFO(when);
    const auto first = s.strata("fsck");
    INFO(first.output);
    if (first.exit_code != 0) {
        REQUIRE(first.exit_code == 1);
        for (const auto& line : problem_lines(first.output)) CHECK(line.find("interrupted write") != std::string::npos);
        const auto repaired = s.strata("fsck --repair");
        INFO(repaired.output);
        REQUIRE(repaired.exit_code == 0);
    }
    const auto clean = s.strata("fsck");
    INFO(clean.output);
    REQUIRE(clean.exit_code == 0);
    CHECK(clean.output.find("No problems found") != std::string::npos);
}

// A build context whose layers take a while to write: a COPY of a 40 MB file and a RUN
// that writes it again, each a layer that is tarred and compressed.
void write_big_context(const fs::path& dir) {
    write_text(dir / "Buildfile", "FROM busybox\n"
                                         "COPY big.txt /big.txt\n"
                                         "RUN cp /big.txt /copy.txt && echo wrote-layer\n"
                                         "RUN echo done > /done\n");
    REQUIRE(sh("seq 1 5000000 > " + quote((dir / "big.txt").string())).exit_code == 0);
}

std::string run_output(const BusyboxStore& s, const std::string& args) {
    const auto r = s.strata_stdout("run --rm " + args);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return r.output;
}

} // namespace

TEST_CASE("strata killed at any moment of a build leaves an undamaged store; the next build works", "[integration][safety]") {
    BusyboxStore s;
    REQUIRE(s.busybox_build.exit_code == 0);
    const ScratchDir ctx;
    write_big_context(ctx.path());
    const std::string build = s.cmd("build --no-cache --progress plain -t big " + quote(ctx.path().string()));

    for (const auto delay : {50ms, 150ms, 400ms, 1000ms, 2500ms}) {
        Background b(build);
        b.run_until(delay);
        b.kill_now();
        require_undamaged(s, "killed " + std::to_string(delay.count()) + " ms into the build\n" + b.output());
    }
    {  // while the RUN step's layer is written
        Background b(build);
        REQUIRE(b.wait_for("wrote-layer", 60s));
        std::this_thread::sleep_for(100ms);  // its upper directory is being tarred and compressed now
        b.kill_now();
        require_undamaged(s, "killed while writing the RUN layer\n" + b.output());
    }
    {  // while the COPY step's layer is written
        Background b(build);
        REQUIRE(b.wait_for("COPY big.txt", 60s));
        std::this_thread::sleep_for(300ms);
        b.kill_now();
        require_undamaged(s, "killed during the COPY\n" + b.output());
    }
    const auto rebuilt = s.strata("build --progress plain -t big " + quote(ctx.path().string()));
    INFO(rebuilt.output);
    REQUIRE(rebuilt.exit_code == 0);
    CHECK(run_output(s, "big cat /done") == "done\n");
    CHECK(run_output(s, "big sh -c 'cmp /big.txt /copy.txt && wc -l < /copy.txt'") == "5000000\n");
    require_undamaged(s, "after the rebuild");
}

TEST_CASE("strata killed during a prune leaves an undamaged store; prune and build work after", "[integration][safety]") {
    BusyboxStore s;
    REQUIRE(s.busybox_build.exit_code == 0);
    // Snapshots of many files each, which take a prune a while to remove.
    const std::string buildfile = "FROM busybox\nARG V\nRUN mkdir /many && cd /many && seq 1 20000 | xargs touch && echo $V > /v\n";
    for (const auto delay : {20ms, 100ms, 300ms, 800ms}) {
        for (int v = 0; v < 3; ++v) {
            const auto r = s.build(buildfile, "--build-arg V=" + std::to_string(v) + "-" + std::to_string(delay.count()));
            INFO(r.output);
            REQUIRE(r.exit_code == 0);
        }
        Background prune(s.cmd("prune --cache -a"));
        prune.run_until(delay);
        prune.kill_now();
        require_undamaged(s, "prune killed after " + std::to_string(delay.count()) + " ms\n" + prune.output());
    }
    const auto pruned = s.strata("prune --cache -a");
    INFO(pruned.output);
    REQUIRE(pruned.exit_code == 0);
    require_undamaged(s, "after a whole prune");
    const auto r = s.build(buildfile, "-t many --build-arg V=last");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(run_output(s, "many cat /v") == "last\n");
    CHECK(run_output(s, "busybox echo ok") == "ok\n");
}

TEST_CASE("strata killed during a load leaves an undamaged store; loading again works", "[integration][safety]") {
    BusyboxStore source;
    REQUIRE(source.busybox_build.exit_code == 0);
    const ScratchDir ctx;
    write_big_context(ctx.path());
    const auto built = source.strata("build -q -t big " + quote(ctx.path().string()));
    INFO(built.output);
    REQUIRE(built.exit_code == 0);
    const ScratchDir out;
    const std::string archive = (out.path() / "big.tar").string();
    const auto saved = source.strata("save -o " + quote(archive) + " big");
    INFO(saved.output);
    REQUIRE(saved.exit_code == 0);

    BusyboxStore target;  // a store of its own, which has busybox but not big's layers
    for (const auto delay : {30ms, 100ms, 250ms, 400ms}) {
        Background load(target.cmd("load -i " + quote(archive)));
        load.run_until(delay);
        load.kill_now();
        require_undamaged(target, "load killed after " + std::to_string(delay.count()) + " ms\n" + load.output());
    }
    const auto loaded = target.strata("load -i " + quote(archive));
    INFO(loaded.output);
    REQUIRE(loaded.exit_code == 0);
    CHECK(run_output(target, "big cat /done") == "done\n");
    require_undamaged(target, "after a whole load");
}

TEST_CASE("two builds and a prune at once on one store lose no tag, and both images run", "[integration][safety]") {
    BusyboxStore s;
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir a, b;
    write_text(a.path() / "Buildfile", "FROM busybox\nARG R\nRUN sleep 0.3 && echo a-$R > /who\nCOPY f /f\nRUN seq 1 100000 > /seq\n");
    write_text(a.path() / "f", "file a\n");
    write_text(b.path() / "Buildfile", "FROM busybox\nARG R\nRUN echo b-$R > /who && seq 1 200000 > /seq\nCOPY f /f\n");
    write_text(b.path() / "f", "file b\n");
    for (int round = 0; round < 3; ++round) {
        const std::string arg = " --build-arg R=" + std::to_string(round) + " ";
        Background build_a(s.cmd("build --progress plain -t a" + arg + quote(a.path().string())));
        Background build_b(s.cmd("build --progress plain -t b" + arg + quote(b.path().string())));
        Background prune(s.cmd("prune --cache -a"));
        const int prune_status = prune.wait();
        const int a_status = build_a.wait();
        const int b_status = build_b.wait();
        INFO(build_a.output() + build_b.output() + prune.output());
        REQUIRE(a_status == 0);
        REQUIRE(b_status == 0);
        REQUIRE(prune_status == 0);
        const auto images = s.strata_stdout("images");
        INFO(images.output);
        for (const char* tag : {"busybox ", "a ", "b "}) CHECK(images.output.find(std::string("\n") + tag) != std::string::npos);
        CHECK(run_output(s, "a cat /who /f") == "a-" + std::to_string(round) + "\nfile a\n");
        CHECK(run_output(s, "b cat /who /f") == "b-" + std::to_string(round) + "\nfile b\n");
        CHECK(run_output(s, "a wc -l /seq") == "100000 /seq\n");
        require_undamaged(s, "after round " + std::to_string(round));
    }
}

TEST_CASE("fsck finds a corrupt blob, a missing blob and a dangling tag; --repair keeps good images", "[integration][safety]") {
    BusyboxStore s;
    REQUIRE(s.busybox_build.exit_code == 0);
    for (const char* name : {"good", "corrupt", "broken"}) {
        const auto r = s.build("FROM busybox\nRUN echo " + std::string(name) + " > /name\n", std::string("-t ") + name);
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
    }
    const auto manifest_of = [&](const std::string& tag) {
        const auto raw = sh_stdout("skopeo inspect --raw " + quote("oci:" + (s.root / "oci").string() + ":" + tag + ":latest"));
        REQUIRE(raw.exit_code == 0);
        return nlohmann::json::parse(raw.output);
    };
    const auto blob = [&](const std::string& digest) { return s.root / "oci" / "blobs" / "sha256" / digest.substr(7); };
    // corrupt: a byte flipped in its own top layer
    const auto corrupt_layers = manifest_of("corrupt")["layers"];
    const std::string corrupt_layer = corrupt_layers.back()["digest"];
    const std::string corrupt_layer_index = std::to_string(corrupt_layers.size() - 1);
    std::string bytes = read_text(blob(corrupt_layer));
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    write_text(blob(corrupt_layer), bytes);
    // broken: its config blob gone
    const std::string broken_config = manifest_of("broken")["config"]["digest"];
    fs::remove(blob(broken_config));
    // dangling: a tag naming a manifest the store never had
    const fs::path index_path = s.root / "oci" / "index.json";
    auto index = nlohmann::json::parse(read_text(index_path));
    index["manifests"].push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                  {"digest", "sha256:" + std::string(64, 'd')},
                                  {"size", 123},
                                  {"annotations", {{"org.opencontainers.image.ref.name", "dangling:latest"}}}});
    write_text(index_path, index.dump());

    const auto found = s.strata_stdout("fsck");
    INFO(found.output);
    CHECK(found.exit_code == 1);
    CHECK(found.output.find("blob " + corrupt_layer + ": corrupt") != std::string::npos);
    CHECK(found.output.find("image corrupt:latest: layer " + corrupt_layer_index + " " + corrupt_layer + " is corrupt") != std::string::npos);
    CHECK(found.output.find("image broken:latest: config " + broken_config + " is missing") != std::string::npos);
    CHECK(found.output.find("image dangling:latest: manifest sha256:" + std::string(64, 'd') + " is missing") != std::string::npos);
    CHECK(s.strata("prune").exit_code != 0);  // prune refuses while a tag cannot be read

    const auto repaired = s.strata_stdout("fsck --repair");
    INFO(repaired.output);
    CHECK(repaired.exit_code == 0);
    CHECK(repaired.output.find("(removed)") != std::string::npos);
    const auto clean = s.strata_stdout("fsck");
    INFO(clean.output);
    CHECK(clean.exit_code == 0);
    CHECK_FALSE(fs::exists(blob(corrupt_layer)));
    const auto images = s.strata_stdout("images");
    for (const char* gone : {"corrupt ", "broken ", "dangling "}) CHECK(images.output.find(std::string("\n") + gone) == std::string::npos);
    CHECK(run_output(s, "good cat /name") == "good\n");
    CHECK(run_output(s, "busybox echo ok") == "ok\n");
    CHECK(s.strata("prune").exit_code == 0);
    // The removed names can be built again (the busybox steps from the cache, which stayed whole).
    const auto again = s.build("FROM busybox\nRUN echo corrupt > /name\n", "-t corrupt");
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(run_output(s, "corrupt cat /name") == "corrupt\n");
    CHECK(s.strata("fsck").exit_code == 0);
}

TEST_CASE("--compression zstd writes zstd layers, re-encoded from cached steps, byte-identical on rebuild", "[integration][compression]") {
    BusyboxStore s;
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM busybox\nCOPY f /f\nRUN seq 1 300000 > /seq\n");
    write_text(ctx.path() / "f", "a file\n");
    const auto build = [&](const std::string& flags) {
        const auto r = sh("SOURCE_DATE_EPOCH=1700000000 " + s.cmd("build --progress plain " + flags + " " + quote(ctx.path().string())));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        return r.output;
    };
    const auto digest = [](const std::string& output) { return output.substr(output.rfind("sha256:"), 71); };
    const auto top_layers = [&](const std::string& tag) {
        const auto raw = sh_stdout("skopeo inspect --raw " + quote("oci:" + (s.root / "oci").string() + ":" + tag + ":latest"));
        REQUIRE(raw.exit_code == 0);
        const auto layers = nlohmann::json::parse(raw.output)["layers"];
        return std::vector<nlohmann::json>(layers.end() - 2, layers.end());  // COPY's and RUN's
    };

    const std::string gzip = build("-t g");
    const std::string zstd = build("--compression zstd -t z");
    // The steps are not run again: their cached layers' tars are re-encoded (store/layer_blobs.hpp).
    CHECK(count_occurrences(zstd, "CACHED") == 2);
    for (const auto& layer : top_layers("z")) {
        CHECK(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd");
        CHECK(layer["annotations"]["io.strata.layer.compression"] == "zstd;level=3");
        const std::string digest_hex = layer["digest"].get<std::string>().substr(7);
        CHECK(sh("zstd -t " + quote((s.root / "oci" / "blobs" / "sha256" / digest_hex).string())).exit_code == 0);
    }
    for (const auto& layer : top_layers("g")) CHECK(layer["annotations"]["io.strata.layer.compression"] == "gzip;level=6");
    // Each compression's blob is remembered, and a no-cache rebuild gives the same bytes.
    const std::string zstd_again = build("--compression zstd -t z");
    CHECK(count_occurrences(zstd_again, "CACHED") == 2);
    CHECK(digest(zstd_again) == digest(zstd));
    CHECK(count_occurrences(build("-t g"), "CACHED") == 2);
    CHECK(digest(build("--no-cache --compression zstd -t z")) == digest(zstd));
    CHECK(digest(build("--no-cache -t g")) == digest(gzip));
    const std::string level19 = build("--compression zstd --compression-level 19 -t z19");
    CHECK(count_occurrences(level19, "CACHED") == 2);
    CHECK(top_layers("z19")[1]["annotations"]["io.strata.layer.compression"] == "zstd;level=19");
    CHECK(digest(build("--compression uncompressed -t u")) != digest(gzip));
    CHECK(top_layers("u")[1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar");

    // The zstd layers unpack from their blobs: saved and loaded into a store without snapshots.
    const ScratchDir out;
    const std::string archive = (out.path() / "z.tar").string();
    REQUIRE(s.strata("save -o " + quote(archive) + " z").exit_code == 0);
    BusyboxStore other;
    const auto loaded = other.strata("load -i " + quote(archive));
    INFO(loaded.output);
    REQUIRE(loaded.exit_code == 0);
    CHECK(run_output(other, "z sh -c 'cat /f && wc -l < /seq'") == "a file\n300000\n");
    CHECK(other.strata("fsck").exit_code == 0);

    const auto bad = s.strata("build --compression lz4 " + quote(ctx.path().string()));
    CHECK(bad.exit_code != 0);
    CHECK(bad.output.find("expected gzip, zstd or uncompressed") != std::string::npos);
    const auto bad_level = s.strata("build --compression zstd --compression-level 30 " + quote(ctx.path().string()));
    CHECK(bad_level.exit_code != 0);
    CHECK(bad_level.output.find("1-19") != std::string::npos);
}

} // namespace store_safety_test
