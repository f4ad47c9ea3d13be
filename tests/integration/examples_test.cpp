// End to end through the real binary: build the examples FROM scratch in a temporary
// store, run the result, rebuild from cache, and let skopeo and umoci read the store.
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <unistd.h>

namespace examples_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

const std::string strata_bin = STRATA_BINARY;
const fs::path examples = fs::path(STRATA_SOURCE_DIR) / "examples";

// One store with both example images, built once for all tests in this file.
struct ExampleStore {
    ScratchDir dir{"strata-examples-"};
    fs::path root = dir.path() / "root";
    fs::path busybox_context = dir.path() / "busybox";
    fs::path hello_context = dir.path() / "hello";
    CommandResult busybox_build;
    CommandResult hello_build;

    ExampleStore() {
        fs::copy(examples / "busybox", busybox_context, fs::copy_options::recursive);
        fs::copy(examples / "hello", hello_context, fs::copy_options::recursive);
        fs::copy_file("/bin/busybox", busybox_context / "busybox", fs::copy_options::overwrite_existing);
        busybox_build = strata("build -t busybox " + quote(busybox_context.string()));
        hello_build = strata("build -t hello " + quote(hello_context.string()));
    }

    std::string cmd(const std::string& args) const { return quote(strata_bin) + " --root " + quote(root.string()) + " " + args; }
    CommandResult strata(const std::string& args) const { return sh(cmd(args)); }
};

ExampleStore& example_store() {
    static auto store = std::make_unique<ExampleStore>();
    return *store;
}

std::string last_line(const std::string& text) {
    auto end = text.find_last_not_of('\n');
    if (end == std::string::npos) return "";
    auto start = text.rfind('\n', end);
    return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

} // namespace

TEST_CASE("the examples build FROM scratch and the hello image runs", "[integration]") {
    auto& s = example_store();
    INFO(s.busybox_build.output);
    REQUIRE(s.busybox_build.exit_code == 0);
    INFO(s.hello_build.output);
    REQUIRE(s.hello_build.exit_code == 0);

    const auto run = s.strata("run hello");
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(run.output.find("Hello from hello, built by strata") != std::string::npos);
    CHECK(run.output.find("running as uid 0 in / on host") != std::string::npos);
}

TEST_CASE("an unchanged rebuild reuses every step and gives the same digest", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.hello_build.exit_code == 0);
    // Catch runs this case once per SECTION, and --no-cache below records new step
    // outputs; so compare two consecutive builds rather than the fixture's first one.
    const auto before = s.strata("build -t hello " + quote(s.hello_context.string()));
    REQUIRE(before.exit_code == 0);
    const std::string first_digest = last_line(before.output);
    REQUIRE(first_digest.rfind("sha256:", 0) == 0);

    const auto again = s.strata("build -t hello " + quote(s.hello_context.string()));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    // The hello Buildfile has four file-changing steps: WORKDIR, COPY, RUN, COPY --from.
    CHECK(count_occurrences(again.output, "CACHED") == 4);
    CHECK(last_line(again.output) == first_digest);

    SECTION("--no-cache runs every step again") {
        const auto fresh = s.strata("build --no-cache -t hello-nocache " + quote(s.hello_context.string()));
        INFO(fresh.output);
        REQUIRE(fresh.exit_code == 0);
        CHECK(count_occurrences(fresh.output, "CACHED") == 0);
        const auto run = s.strata("run hello-nocache");
        CHECK(run.output.find("Hello from hello") != std::string::npos);
    }
    SECTION("a changed context file rebuilds from that step on") {
        ScratchDir ctx;
        fs::copy(s.hello_context, ctx.path() / "hello", fs::copy_options::recursive);
        write_text(ctx.path() / "hello" / "greeting.txt", "Bonjour\n");
        const auto changed = s.strata("build -t hello-fr " + quote((ctx.path() / "hello").string()));
        INFO(changed.output);
        REQUIRE(changed.exit_code == 0);
        CHECK(count_occurrences(changed.output, "CACHED") == 1);  // only the WORKDIR before the COPY
        CHECK(last_line(changed.output) != first_digest);
        CHECK(s.strata("run hello-fr").output.find("Bonjour from hello") != std::string::npos);
    }
}

TEST_CASE("strata run wires stdio, env, command and exit code", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    CHECK(s.strata("run busybox sh -c 'exit 7'").exit_code == 7);
    const auto piped = sh("echo piped-input | " + s.cmd("run -i busybox cat"));
    CHECK(piped.exit_code == 0);
    CHECK(piped.output == "piped-input\n");
    // Without -i the container reads /dev/null, as with docker.
    CHECK(sh("echo piped-input | " + s.cmd("run busybox cat")).output.empty());
    const auto env = s.strata("run -e GREETING=hi busybox sh -c 'echo $GREETING $PATH'");
    CHECK(env.output == "hi /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    const auto missing = s.strata("run busybox no-such-command");
    CHECK(missing.exit_code == 127);
    CHECK(missing.output.find("no-such-command") != std::string::npos);
    CHECK(s.strata("run no-such-image").exit_code == 125);
}

TEST_CASE("strata images lists tags with id, created and size", "[integration]") {
    auto& s = example_store();
    const auto images = s.strata("images");
    INFO(images.output);
    REQUIRE(images.exit_code == 0);
    CHECK(images.output.find("REPOSITORY") != std::string::npos);
    CHECK(images.output.find("hello ") != std::string::npos);
    CHECK(images.output.find("busybox ") != std::string::npos);
    CHECK(images.output.find("latest") != std::string::npos);
}

TEST_CASE("a failing RUN stops the build with the command, its exit code and its line", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM busybox\nRUN echo ok\nRUN exit 3\nRUN echo never\n");
    const auto r = s.strata("build -t broken " + quote(ctx.path().string()));
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("strata: error: ") != std::string::npos);
    CHECK(r.output.find("Buildfile:3") != std::string::npos);
    CHECK(r.output.find("exit code 3") != std::string::npos);
    CHECK(r.output.find("exit 3") != std::string::npos);
    CHECK(r.output.find("never") == std::string::npos);
    CHECK(s.strata("run broken true").exit_code == 125);  // nothing was tagged
}

TEST_CASE("a syntax error names file, line and column", "[integration]") {
    auto& s = example_store();
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM scratch\nFOO bar\n");
    const auto r = s.strata("build " + quote(ctx.path().string()));
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("Buildfile:2:1: ") != std::string::npos);
}

TEST_CASE("skopeo and umoci read images from the store, and runc runs one", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.hello_build.exit_code == 0);
    const std::string layout = (s.root / "oci").string();

    const auto inspect = sh_stdout("skopeo inspect " + quote("oci:" + layout + ":hello:latest"));
    REQUIRE(inspect.exit_code == 0);
    const auto j = nlohmann::json::parse(inspect.output);
    CHECK(j["Layers"].size() == 4);  // busybox: COPY + 2 RUN; hello: COPY --from
    CHECK(j["Labels"]["org.opencontainers.image.title"] == "hello");

    ScratchDir bundle;
    const auto unpack = sh("umoci unpack --image " + quote(layout + ":hello:latest") + " " + quote((bundle.path() / "b").string()));
    INFO(unpack.output);
    REQUIRE(unpack.exit_code == 0);
    const auto hello = read_text(bundle.path() / "b" / "rootfs" / "usr" / "local" / "bin" / "hello");
    CHECK(hello.find("Hello from ${APP_NAME}") != std::string::npos);
    CHECK(fs::is_symlink(bundle.path() / "b" / "rootfs" / "bin" / "sh"));

    // The unpacked bundle runs in runc, another runtime, with the image's Env and Cmd.
    const fs::path config_path = bundle.path() / "b" / "config.json";
    auto config = nlohmann::json::parse(read_text(config_path));
    config["process"]["terminal"] = false;  // no tty in tests
    write_text(config_path, config.dump());
    const std::string id = "strata-test-" + std::to_string(::getpid());
    const auto runc = sh("runc run -b " + quote((bundle.path() / "b").string()) + " " + id + " </dev/null");
    INFO(runc.output);
    CHECK(runc.exit_code == 0);
    CHECK(runc.output.find("Hello from hello, built by strata") != std::string::npos);
}

TEST_CASE("memory and pids limits apply to RUN steps and to strata run", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM busybox\nRUN x=$(yes | head -c 200000000); echo survived\n");
    const auto build = s.strata("build -m 32m -t oom " + quote(ctx.path().string()));
    INFO(build.output);
    CHECK(build.exit_code == 1);
    CHECK(build.output.find("Buildfile:2") != std::string::npos);
    CHECK(build.output.find("out of memory (limit 32 MiB)") != std::string::npos);

    const auto run = s.strata("run -m 32m busybox sh -c 'x=$(yes | head -c 200000000); echo survived'");
    INFO(run.output);
    CHECK(run.exit_code == 137);
    CHECK(run.output.find("killed: out of memory (limit 32 MiB)") != std::string::npos);
    CHECK(run.output.find("survived") == std::string::npos);

    const auto pids = s.strata("run --pids-limit 8 busybox sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; wait'");
    INFO(pids.output);
    CHECK(pids.output.find("can't fork") != std::string::npos);
    const auto enough = s.strata("run --pids-limit 8 busybox sh -c 'sleep 0 & wait; echo ok'");
    CHECK(enough.output == "ok\n");
}

TEST_CASE("strata run confines the container: default capabilities, seccomp, --cap-drop, --privileged", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    const auto status = s.strata("run busybox grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status");
    INFO(status.output);
    CHECK(status.output.find("CapEff:\t00000000a80425fb") != std::string::npos);
    CHECK(status.output.find("Seccomp:\t2") != std::string::npos);
    CHECK(status.output.find("NoNewPrivs:\t1") != std::string::npos);
    CHECK(s.strata("run --cap-drop ALL busybox grep CapEff /proc/self/status").output == "CapEff:\t0000000000000000\n");
    CHECK(s.strata("run busybox mount -t tmpfs none /mnt").exit_code != 0);
    CHECK(s.strata("run --privileged busybox grep Seccomp: /proc/self/status").output == "Seccomp:\t0\n");
    CHECK(s.strata("run --cap-add NOT_A_CAP busybox true").exit_code == 125);
}

TEST_CASE("a strata killed with SIGKILL mid-RUN leaves nothing the next command does not clean", "[integration]") {
    auto& s = example_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM busybox\nRUN sleep 60\n");
    const auto killed = sh("( " + s.cmd("build " + quote(ctx.path().string())) +
                           " >/dev/null 2>&1 & pid=$!; sleep 2; kill -9 $pid; wait $pid; echo $pid )");
    const std::string pid = killed.output.substr(0, killed.output.find('\n'));
    INFO(killed.output);
    REQUIRE_FALSE(pid.empty());
    // The RUN's processes die with it (the pattern's brackets keep pgrep from matching its own shell).
    CHECK(sh("for i in 1 2 3 4 5 6 7 8 9 10; do pgrep -f 'slee[p] 60' >/dev/null || exit 0; sleep 0.2; done; exit 1").exit_code == 0);

    REQUIRE(s.strata("images").exit_code == 0);  // any command opening the store sweeps
    CHECK(std::filesystem::is_empty(s.root / "tmp"));
    CHECK(sh("grep -c " + quote(s.root.string()) + " /proc/self/mountinfo").output == "0\n");
    REQUIRE(s.strata("run busybox true").exit_code == 0);  // a run sweeps abandoned cgroups
    CHECK(sh("find /sys/fs/cgroup -maxdepth 4 -name 'strata-" + pid + "-*'").output.empty());
}

} // namespace examples_test
