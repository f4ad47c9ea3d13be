// The build as a whole through the real binary: stages in parallel and cancelled on a
// failure, progress modes, --label, WORKDIR and ONBUILD with docker's results.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <sstream>

namespace build_flow_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;

namespace {

struct ThisFile;
BusyboxStore& store() { return file_store<ThisFile>(); }

std::size_t position(const std::string& text, const std::string& what) {
    const auto at = text.find(what);
    INFO(what);
    REQUIRE(at != std::string::npos);
    return at;
}

// "#3 [a 2/2] RUN ..." -> "#3": the id plain progress gives a step's later lines.
std::string step_id(const std::string& output, const std::string& heading) {
    const auto at = position(output, heading);
    const auto start = output.rfind('#', at);
    return output.substr(start, at - start - 1);
}

const std::string two_stages = "FROM busybox AS a\n"
                               "RUN sleep 1; echo from-a > /a\n"
                               "FROM busybox AS b\n"
                               "RUN sleep 1; echo from-b > /b\n"
                               "FROM busybox AS unused\n"
                               "RUN false\n"
                               "FROM busybox\n"
                               "COPY --from=a /a /a\n"
                               "COPY --from=b /b /b\n"
                               "RUN cat /a /b\n";

} // namespace

TEST_CASE("independent stages run at the same time, and unused stages not at all", "[integration]") {
    auto& s = store();
    const auto r = s.build(two_stages, "--no-cache --jobs 2 -t twostages");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string a = step_id(r.output, "[a 2/2] RUN");
    const std::string b = step_id(r.output, "[b 2/2] RUN");
    // Both RUNs started before either finished: they overlapped.
    const auto first_done = std::min(position(r.output, a + " DONE"), position(r.output, b + " DONE"));
    CHECK(position(r.output, "[a 2/2] RUN") < first_done);
    CHECK(position(r.output, "[b 2/2] RUN") < first_done);
    CHECK(r.output.find("[unused") == std::string::npos);
    CHECK(r.output.find("from-a") != std::string::npos);
    CHECK(r.output.find("from-b") != std::string::npos);

    SECTION("--jobs 1 builds one stage after the other") {
        const auto serial = s.build(two_stages, "--no-cache --jobs 1");
        INFO(serial.output);
        REQUIRE(serial.exit_code == 0);
        const std::string sa = step_id(serial.output, "[a 2/2] RUN");
        const std::string sb = step_id(serial.output, "[b 2/2] RUN");
        const auto a_done = position(serial.output, sa + " DONE");
        const auto b_done = position(serial.output, sb + " DONE");
        CHECK(std::min(a_done, b_done) < std::max(position(serial.output, "[a 2/2] RUN"), position(serial.output, "[b 2/2] RUN")));
    }
}

TEST_CASE("a failing stage stops the others after their current step and is the error reported", "[integration]") {
    auto& s = store();
    const auto r = s.build("FROM busybox AS slow\n"
                           "RUN sleep 2\n"
                           "RUN touch /never\n"
                           "FROM busybox AS broken\n"
                           "RUN echo about to fail; exit 3\n"
                           "FROM busybox\n"
                           "COPY --from=slow /never /\n"
                           "COPY --from=broken / /\n",
                           "--no-cache --jobs 2");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("strata: error: ") != std::string::npos);
    CHECK(r.output.find("Buildfile:5:1") != std::string::npos);
    CHECK(r.output.find("exit code 3") != std::string::npos);
    CHECK(r.output.find("RUN touch /never") == std::string::npos);  // never started
    CHECK(r.output.find("cancelled") == std::string::npos);         // not the error shown
}

TEST_CASE("--progress json writes one JSON object per event, RUN output included", "[integration]") {
    auto& s = store();
    const auto r = s.build("FROM busybox\nRUN echo json-output-line\n", "--no-cache --progress json");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::istringstream lines(r.output);
    std::string line;
    int steps_done = 0;
    bool saw_output = false;
    while (std::getline(lines, line)) {
        if (line.rfind("sha256:", 0) == 0) continue;  // the digest on stdout
        const auto event = nlohmann::json::parse(line);  // throws (fails the test) on non-JSON
        if (event["event"] == "step" && event["status"] == "done") ++steps_done;
        if (event["event"] == "output" && event["line"] == "json-output-line") saw_output = true;
    }
    CHECK(steps_done == 2);
    CHECK(saw_output);
}

TEST_CASE("--label adds labels to the image config, over the Buildfile's", "[integration]") {
    auto& s = store();
    const auto r = s.build("FROM busybox\nLABEL a=from-file b=from-file\n",
                           "-t labelled --label b=from-flag --label c=3 --label empty");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto labels = s.config("labelled:latest")["config"]["Labels"];
    CHECK(labels["a"] == "from-file");
    CHECK(labels["b"] == "from-flag");
    CHECK(labels["c"] == "3");
    CHECK(labels["empty"] == "");
}

TEST_CASE("WORKDIR creates the directory for the USER in effect, as docker does", "[integration]") {
    auto& s = store();
    const auto r = s.build("FROM busybox\nUSER nobody\nWORKDIR /srv/app\nRUN pwd > /tmp/where\n", "-t workdir");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto run = s.strata("run workdir sh -c 'stat -c %U:%a /srv/app; cat /tmp/where'");
    INFO(run.output);
    CHECK(run.output.find("nobody:755") != std::string::npos);
    CHECK(run.output.find("/srv/app") != std::string::npos);
}

TEST_CASE("ONBUILD triggers run in the build that uses the image, not in the image itself", "[integration]") {
    auto& s = store();
    auto parent = s.build("FROM busybox\nONBUILD RUN echo triggered > /trigger\nONBUILD ENV FROM_TRIGGER=1\n", "-t onbuild-parent");
    INFO(parent.output);
    REQUIRE(parent.exit_code == 0);
    CHECK(s.strata("run onbuild-parent ls /trigger").exit_code != 0);

    const auto child = s.build("FROM onbuild-parent\nRUN cat /trigger\n", "-t onbuild-child");
    INFO(child.output);
    REQUIRE(child.exit_code == 0);
    CHECK(child.output.find("ONBUILD RUN echo triggered") != std::string::npos);
    const auto run = s.strata("run onbuild-child sh -c 'cat /trigger; echo env=$FROM_TRIGGER'");
    CHECK(run.output.find("triggered") != std::string::npos);
    CHECK(run.output.find("env=1") != std::string::npos);
    CHECK_FALSE(s.config("onbuild-child:latest")["config"].contains("OnBuild"));
}

TEST_CASE("RUN sees /etc/hosts, /etc/hostname and /etc/resolv.conf, and no layer keeps them", "[integration]") {
    auto& s = store();
    const auto r = s.build("FROM busybox\n"
                           "RUN grep localhost /etc/hosts && cat /etc/hostname && test -f /etc/resolv.conf"
                           " && echo extra >> /etc/hosts && touch /made\n",
                           "--no-cache -t netfiles");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string listing = s.layer_listing("netfiles");
    INFO(listing);
    CHECK(listing.find("made") != std::string::npos);
    CHECK(listing.find("etc/hosts") == std::string::npos);
    CHECK(listing.find("etc/hostname") == std::string::npos);
    CHECK(listing.find("etc/resolv.conf") == std::string::npos);
    const auto run = s.strata("run netfiles cat /etc/hosts");
    CHECK(run.output.find("localhost") != std::string::npos);
    CHECK(run.output.find("extra") == std::string::npos);  // the RUN's write went nowhere
}

TEST_CASE("COPY on top of a deep layer chain mounts its view of any depth", "[integration]") {
    auto& s = store();
    std::string buildfile = "FROM busybox\n";
    for (int i = 0; i < 45; ++i) buildfile += "RUN echo " + std::to_string(i) + " > /layer" + std::to_string(i) + "\n";
    buildfile += "COPY a.txt /deep/a.txt\nRUN cat /deep/a.txt /layer0 /layer44\n";
    const auto r = s.build(buildfile, "--no-cache", {{"a.txt", "copied-on-top\n"}});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("copied-on-top") != std::string::npos);
}

TEST_CASE("a relative --root is the same store as its absolute path", "[integration]") {
    auto& s = store();
    const auto r = sh("cd " + quote(s.root.parent_path().string()) + " && " + quote(STRATA_BINARY) + " --root " +
                      quote(s.root.filename().string()) + " run busybox echo relative-root-works");
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("relative-root-works") != std::string::npos);
}

TEST_CASE("the build command line as docker's: -f -, Dockerfile, --iidfile, -t twice, -q, --platform", "[integration]") {
    auto& s = store();
    ScratchDir context;
    const std::string ctx = quote(context.path().string());
    write_text(context.path() / "Dockerfile", "FROM busybox\nRUN echo from-dockerfile > /which\n");

    SECTION("without -f, a context's Dockerfile is used when it has no Buildfile, and Buildfile wins") {
        REQUIRE(s.strata("build -q -t which " + ctx).exit_code == 0);
        CHECK(s.strata("run which cat /which").output == "from-dockerfile\n");
        write_text(context.path() / "Buildfile", "FROM busybox\nRUN echo from-buildfile > /which\n");
        REQUIRE(s.strata("build -q -t which " + ctx).exit_code == 0);
        CHECK(s.strata("run which cat /which").output == "from-buildfile\n");
    }
    SECTION("-f - reads the Buildfile from stdin; errors name it <stdin>") {
        const auto r = sh("printf 'FROM busybox\\nRUN echo from-stdin > /which\\n' | " +
                          s.cmd("build --progress plain -f - -t from-stdin " + ctx));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        CHECK(s.strata("run from-stdin cat /which").output == "from-stdin\n");
        const auto bad = sh("printf 'FROM busybox\\nBOGUS x\\n' | " + s.cmd("build -f - " + ctx));
        CHECK(bad.exit_code != 0);
        CHECK(bad.output.find("<stdin>:2:") != std::string::npos);
    }
    SECTION("--iidfile holds the digest printed; every -t names it; -q prints nothing else") {
        const std::string iidfile = (context.path() / "iid").string();
        const auto r = sh_stdout(s.cmd("build -q -t one:v1 -t two --iidfile " + quote(iidfile) + " " + ctx + " 2>/dev/null"));
        REQUIRE(r.exit_code == 0);
        const std::string iid = read_text(iidfile);
        CHECK(iid.rfind("sha256:", 0) == 0);
        CHECK(iid.size() == 71);
        CHECK(r.output == iid + "\n");  // only the digest on stdout
        CHECK(sh(s.cmd("build -q " + ctx)).output == iid + "\n");  // nor anything on stderr
        const auto images = s.strata("images").output;
        INFO(images);
        const auto row = [&](const std::string& name) {
            const auto at = images.find("\n" + name + " ");
            return at == std::string::npos ? std::string() : images.substr(at + 1, images.find('\n', at + 1) - at - 1);
        };
        CHECK(row("one").find(" v1 ") != std::string::npos);
        CHECK(row("one").find(iid.substr(7, 12)) != std::string::npos);
        CHECK(row("two").find(" latest ") != std::string::npos);
        CHECK(row("two").find(iid.substr(7, 12)) != std::string::npos);
    }
    SECTION("-q shows the progress when the build fails") {
        write_text(context.path() / "Buildfile", "FROM busybox\nRUN echo output-before-failing; exit 3\n");
        const auto r = s.strata("build -q " + ctx);
        CHECK(r.exit_code != 0);
        CHECK(r.output.find("output-before-failing") != std::string::npos);
        CHECK(r.output.find("strata: error:") != std::string::npos);
    }
    SECTION("--platform accepts the host's platform in any spelling, and refuses others") {
        std::string arch = sh_stdout("uname -m").output;
        arch.erase(arch.find_last_not_of('\n') + 1);
        CHECK(s.strata("build -q --platform linux/" + arch + " " + ctx).exit_code == 0);
        const std::string other = arch == "aarch64" ? "linux/amd64" : "linux/arm64";
        const auto r = s.strata("build -q --platform " + other + " " + ctx);
        CHECK(r.exit_code != 0);
        CHECK(r.output.find("only the host platform") != std::string::npos);
    }
    SECTION("a usage error exits 125 as docker's does, and --version answers") {
        const auto r = s.strata("build --no-such-flag " + ctx);
        CHECK(r.exit_code == 125);
        CHECK(r.output.find("strata: error:") != std::string::npos);
        CHECK(r.output.find("--no-such-flag") != std::string::npos);
        const auto v = sh(quote(STRATA_BINARY) + " --version");
        CHECK(v.exit_code == 0);
        CHECK(v.output.find("strata version") != std::string::npos);
    }
}

} // namespace build_flow_test
