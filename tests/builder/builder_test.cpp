// The builder against a fake executor: what it asks the sandbox to run, what lands in the
// image config, and when the cache answers instead of the executor.
#include "builder/builder.hpp"
#include "builder/copy.hpp"
#include "builder/metadata.hpp"
#include "tests/common/build_fixture.hpp"
#include "tests/common/shell.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <sys/stat.h>

namespace builder_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using strata::test::ScratchDir;
using strata::test::write_text;
using json = nlohmann::json;

namespace {

// Records every spec; writes `file_to_write` into the upper dir like a real RUN would.
class FakeExecutor final : public builder::Executor {
public:
    std::vector<sandbox::Spec> runs;
    int exit_code = 0;
    std::string file_to_write = "made-by-run";

    sandbox::Result run(const sandbox::Spec& spec) override {
        runs.push_back(spec);
        if (!file_to_write.empty()) write_text(spec.upper_dir / file_to_write, "x\n");
        sandbox::Result r;
        r.exit_code = exit_code;
        return r;
    }
};

struct Fixture : test::BuildFixture<FakeExecutor> {
    builder::BuildResult build(const std::string& buildfile, const std::vector<std::string>& tags = {"t"},
                               std::map<std::string, std::string> args = {}) {
        options.tags = tags;
        options.build_args = std::move(args);
        return build_with_options(buildfile);
    }
};

} // namespace

TEST_CASE("metadata instructions land in the image config with history", "[builder]") {
    Fixture f;
    const auto result = f.build("FROM scratch\n"
                                "ENV A=1 B=two\n"
                                "ENV C=${A}-$B\n"
                                "LABEL version=\"1.0\" who=$B\n"
                                "ENTRYPOINT [\"/bin/tool\"]\n"
                                "CMD run --help\n");
    const json c = f.config(result);
    CHECK(c["config"]["Env"] == json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1",
                                             "B=two", "C=1-two"}));
    CHECK(c["config"]["Labels"] == json({{"version", "1.0"}, {"who", "two"}}));
    CHECK(c["config"]["Entrypoint"] == json::array({"/bin/tool"}));
    CHECK(c["config"]["Cmd"] == json::array({"/bin/sh", "-c", "run --help"}));
    CHECK(c["rootfs"]["diff_ids"].empty());
    REQUIRE(c["history"].size() == 5);
    CHECK(c["history"][0]["created_by"] == "ENV A=1 B=two");
    CHECK(c["history"][0]["empty_layer"] == true);
    CHECK(f.executor.runs.empty());
    CHECK(f.store.resolve("t:latest")->digest == result.manifest.digest);
}

TEST_CASE("RUN asks the sandbox for the shell command with env, args, cwd and layers", "[builder]") {
    Fixture f;
    write_text(f.context / "file.txt", "content\n");
    const std::string buildfile = "FROM scratch\n"
                                  "ARG VERSION=1\n"
                                  "ENV HOME=/root\n"
                                  "COPY file.txt /data/\n"
                                  "WORKDIR /data\n"
                                  "RUN echo $VERSION > v\n"
                                  "RUN [\"/bin/true\", \"exec form\"]\n";
    const auto first = f.build(buildfile, {"t"}, {{"VERSION", "2"}});
    REQUIRE(f.executor.runs.size() == 2);
    const auto& run = f.executor.runs[0];
    CHECK(run.argv == std::vector<std::string>{"/bin/sh", "-c", "echo $VERSION > v"});
    CHECK(run.cwd == "/data");
    CHECK(std::find(run.env.begin(), run.env.end(), "VERSION=2") != run.env.end());
    CHECK(std::find(run.env.begin(), run.env.end(), "HOME=/root") != run.env.end());
    REQUIRE(run.lower_dirs.size() == 1);  // the COPY layer
    CHECK(std::filesystem::exists(run.lower_dirs[0] / "data" / "file.txt"));
    CHECK(f.executor.runs[1].argv == std::vector<std::string>{"/bin/true", "exec form"});
    CHECK(f.executor.runs[1].lower_dirs.size() == 2);
    CHECK(f.config(first)["rootfs"]["diff_ids"].size() == 3);

    SECTION("an unchanged rebuild runs nothing and gives the same digest") {
        f.executor.runs.clear();
        const auto again = f.build(buildfile, {"t"}, {{"VERSION", "2"}});
        CHECK(f.executor.runs.empty());
        CHECK(again.manifest.digest == first.manifest.digest);
        CHECK(strata::test::count_occurrences(f.progress.str(), "CACHED") == 4);  // COPY, WORKDIR, 2 RUNs
    }
    SECTION("a changed build arg reruns only the steps that see it") {
        f.executor.runs.clear();
        f.build(buildfile, {"t"}, {{"VERSION", "3"}});
        CHECK(f.executor.runs.size() == 2);  // both RUNs see VERSION in their env
        CHECK(strata::test::count_occurrences(f.progress.str(), "CACHED") == 2);  // the COPY and the WORKDIR
    }
    SECTION("a changed context file reruns the COPY and everything on top of it") {
        write_text(f.context / "file.txt", "changed\n");
        f.executor.runs.clear();
        const auto changed = f.build(buildfile, {"t"}, {{"VERSION", "2"}});
        CHECK(f.executor.runs.size() == 2);
        CHECK(changed.manifest.digest != first.manifest.digest);
    }
}

TEST_CASE("a failing RUN names the line, the command and the exit code", "[builder]") {
    Fixture f;
    f.executor.exit_code = 2;
    CHECK_THROWS_WITH(f.build("FROM scratch\n\nRUN make all\n"),
                      Catch::Contains("Buildfile:3") && Catch::Contains("exit code 2") && Catch::Contains("make all"));
    CHECK_FALSE(f.store.resolve("t"));
}

TEST_CASE("a RUN that changes nothing adds no layer", "[builder]") {
    Fixture f;
    f.executor.file_to_write.clear();
    const auto r = f.build("FROM scratch\nRUN true\n");
    const json c = f.config(r);
    CHECK(c["rootfs"]["diff_ids"].empty());
    CHECK(c["history"][0]["empty_layer"] == true);
}

TEST_CASE("multi-stage: COPY --from a stage, FROM a stage, --target", "[builder]") {
    Fixture f;
    write_text(f.context / "src" / "main.c", "int main(){}\n");
    const std::string buildfile = "FROM scratch AS build\n"
                                  "COPY src /src\n"
                                  "RUN cc -o /out/app /src/main.c\n"
                                  "FROM scratch AS unused\n"
                                  "RUN will-not-run\n"
                                  "FROM scratch\n"
                                  "COPY --from=build /src/main.c /app/\n"
                                  "CMD [\"/app/main.c\"]\n";
    const auto r = f.build(buildfile);
    REQUIRE(f.executor.runs.size() == 1);  // the unused stage is not built
    CHECK(f.executor.runs[0].argv.back() == "cc -o /out/app /src/main.c");
    const auto image = f.store.load_image(r.manifest);
    REQUIRE(image.diff_ids().size() == 1);
    const auto snapshots = f.store.ensure_snapshots(image);
    CHECK(strata::test::read_text(snapshots.back() / "app" / "main.c") == "int main(){}\n");

    f.executor.runs.clear();
    builder::BuildOptions options;
    options.buildfile_text = buildfile;
    options.context_dir = f.context;
    options.target = "build";
    const auto target = builder::build(f.store, f.executor, options, f.progress);
    CHECK(f.store.load_image(target.manifest).diff_ids().size() == 2);
}

TEST_CASE("ENTRYPOINT resets a CMD inherited from the base stage", "[builder]") {
    Fixture f;
    const auto r = f.build("FROM scratch AS base\nCMD [\"sh\"]\nFROM base\nENTRYPOINT [\"/bin/app\"]\n");
    const json c = f.config(r);
    CHECK(c["config"]["Entrypoint"] == json::array({"/bin/app"}));
    CHECK_FALSE(c["config"].contains("Cmd"));
}

TEST_CASE("COPY reports a missing source and a base image that is not in the store", "[builder]") {
    Fixture f;
    CHECK_THROWS_WITH(f.build("FROM scratch\nCOPY missing.txt /\n"),
                      Catch::Contains("Buildfile:2") && Catch::Contains("missing.txt"));
    CHECK_THROWS_WITH(f.build("FROM nosuchimage\n"), Catch::Contains("nosuchimage") && Catch::Contains("not in the store"));
}

TEST_CASE("USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, MAINTAINER, HEALTHCHECK, ONBUILD land where docker puts them",
          "[builder]") {
    Fixture f;
    const auto r = f.build("FROM scratch\n"
                           "ARG PORT=8080\n"
                           "EXPOSE 80 ${PORT}/udp 9000-9001\n"
                           "VOLUME [\"/data\", \"/cache\"]\n"
                           "STOPSIGNAL SIGTERM\n"
                           "MAINTAINER someone@example.com\n"
                           "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/\n"
                           "ONBUILD RUN echo child\n"
                           "SHELL [\"/bin/bash\", \"-eu\", \"-c\"]\n"
                           "RUN echo in bash\n"
                           "USER app:staff\n"  // after the RUN: a scratch image has no passwd to resolve it
                           "CMD echo done\n");
    const json c = f.config(r);
    const json& rc = c["config"];
    CHECK(rc["User"] == "app:staff");
    CHECK(rc["ExposedPorts"] == json({{"80/tcp", json::object()}, {"8080/udp", json::object()},
                                      {"9000/tcp", json::object()}, {"9001/tcp", json::object()}}));
    CHECK(rc["Volumes"] == json({{"/data", json::object()}, {"/cache", json::object()}}));
    CHECK(rc["StopSignal"] == "SIGTERM");
    CHECK(c["author"] == "someone@example.com");
    CHECK(rc["Healthcheck"]["Test"] == json::array({"CMD-SHELL", "curl -f http://localhost/"}));
    CHECK(rc["Healthcheck"]["Interval"] == 30000000000LL);
    CHECK(rc["Healthcheck"]["Retries"] == 3);
    CHECK(rc["OnBuild"] == json::array({"RUN echo child"}));
    CHECK(rc["Shell"] == json::array({"/bin/bash", "-eu", "-c"}));
    CHECK(rc["Cmd"] == json::array({"/bin/bash", "-eu", "-c", "echo done"}));
    REQUIRE(f.executor.runs.size() == 1);
    CHECK(f.executor.runs[0].argv == std::vector<std::string>{"/bin/bash", "-eu", "-c", "echo in bash"});
}

TEST_CASE("a base image's ONBUILD triggers run first in a stage built on it and are not passed on", "[builder]") {
    Fixture f;
    write_text(f.context / "app.txt", "app\n");
    f.build("FROM scratch\nONBUILD COPY app.txt /onbuild/\nONBUILD ENV FROM_TRIGGER=yes\n", {"parent"});
    const auto child = f.build("FROM parent\nRUN true\n", {"child"});
    const json c = f.config(child);
    CHECK_FALSE(c["config"].contains("OnBuild"));
    const auto env = c["config"]["Env"].get<std::vector<std::string>>();
    CHECK(std::find(env.begin(), env.end(), "FROM_TRIGGER=yes") != env.end());
    REQUIRE(c["history"].size() == 5);  // the parent's two ONBUILDs, then the triggers, then RUN
    CHECK(c["history"][2]["created_by"] == "COPY app.txt /onbuild/");
    CHECK(c["history"][3]["created_by"] == "ENV FROM_TRIGGER=yes");
    CHECK(c["rootfs"]["diff_ids"].size() == 2);  // the COPY's layer and the RUN's
    REQUIRE(f.executor.runs.size() == 1);
    CHECK(std::filesystem::exists(f.executor.runs[0].lower_dirs.back() / "onbuild" / "app.txt"));
    CHECK(std::find(f.executor.runs[0].env.begin(), f.executor.runs[0].env.end(), "FROM_TRIGGER=yes") !=
          f.executor.runs[0].env.end());

    SECTION("a grandchild does not run them again") {
        f.executor.runs.clear();
        const auto grandchild = f.build("FROM child\n", {"grandchild"});
        CHECK(f.config(grandchild)["rootfs"]["diff_ids"].size() == 2);  // COPY and RUN layers only
        CHECK(f.progress.str().find("ONBUILD") == std::string::npos);
    }
    SECTION("a trigger that fails names the base image and the trigger") {
        f.build("FROM scratch\nONBUILD COPY missing.txt /\n", {"broken"});
        CHECK_THROWS_WITH(f.build("FROM broken\n"), Catch::Contains("missing.txt"));
    }
}

TEST_CASE("WORKDIR creates its directory owned by the USER in effect, and no layer when it exists", "[builder]") {
    Fixture f;
    write_text(f.context / "passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
    write_text(f.context / "group", "root:x:0:\napp:x:1000:\n");
    const auto r = f.build("FROM scratch\n"
                           "COPY passwd group /etc/\n"
                           "WORKDIR /etc\n"       // exists: no layer
                           "USER app\n"
                           "WORKDIR /srv/app\n"   // created, with its parent, owned by app
                           "WORKDIR sub\n");
    const json c = f.config(r);
    CHECK(c["config"]["WorkingDir"] == "/srv/app/sub");
    REQUIRE(c["history"].size() == 5);
    CHECK(c["history"][1]["empty_layer"] == true);
    CHECK_FALSE(c["history"][3].value("empty_layer", false));
    CHECK(c["rootfs"]["diff_ids"].size() == 3);
    struct stat st {};
    const auto snapshots = f.store.ensure_snapshots(f.store.load_image(r.manifest));
    REQUIRE(::stat((snapshots[1] / "srv" / "app").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 1000);
    CHECK((st.st_mode & 07777) == 0755);
    REQUIRE(::stat((snapshots[1] / "srv").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
    REQUIRE(::stat((snapshots[2] / "srv" / "app" / "sub").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
}

TEST_CASE("what the builder does not implement is refused by name, not ignored", "[builder]") {
    Fixture f;
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --security=insecure true\n"),
                      Catch::Contains("Buildfile:2:1") && Catch::Contains("insecure"));
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=cache,target=/c,from=other true\n"),
                      Catch::Contains("Buildfile:2:1") && Catch::Contains("from="));
    CHECK_THROWS_WITH(f.build("FROM scratch\nADD https://example.invalid/r.git /\n"),
                      Catch::Contains("ADD of a git repository is not supported yet"));
    CHECK(f.executor.runs.empty());
}

TEST_CASE("EXPOSE port specs follow docker", "[builder]") {
    CHECK(builder::expand_exposed_port("80") == std::vector<std::string>{"80/tcp"});
    CHECK(builder::expand_exposed_port("53/UDP") == std::vector<std::string>{"53/udp"});
    CHECK(builder::expand_exposed_port("1-3/sctp") == std::vector<std::string>{"1/sctp", "2/sctp", "3/sctp"});
    CHECK_THROWS_WITH(builder::expand_exposed_port("http"), Catch::Contains("invalid port 'http'"));
    CHECK_THROWS(builder::expand_exposed_port("70000"));
    CHECK_THROWS(builder::expand_exposed_port("80/icmp"));
}

TEST_CASE(".dockerignore leaves files out of COPY and out of the cache key", "[builder]") {
    Fixture f;
    write_text(f.context / "app" / "main.c", "int main(){}\n");
    write_text(f.context / "app" / "build" / "main.o", "object\n");
    write_text(f.context / "app" / "build" / "keep.txt", "kept\n");
    write_text(f.context / "secret.env", "TOKEN=1\n");
    write_text(f.context / ".dockerignore", "**/build\n!app/build/keep.txt\nsecret.env\n");
    const std::string buildfile = "FROM scratch\nCOPY . /src/\n";
    const auto first = f.build(buildfile);
    const auto snapshots = f.store.ensure_snapshots(f.store.load_image(first.manifest));
    const auto root = snapshots.back() / "src";
    CHECK(std::filesystem::exists(root / "app" / "main.c"));
    CHECK(std::filesystem::exists(root / "app" / "build" / "keep.txt"));
    CHECK_FALSE(std::filesystem::exists(root / "app" / "build" / "main.o"));
    CHECK_FALSE(std::filesystem::exists(root / "secret.env"));

    // Changing an ignored file keeps the cache; naming one explicitly finds nothing.
    write_text(f.context / "secret.env", "TOKEN=2\n");
    const auto again = f.build(buildfile);
    CHECK(again.manifest.digest == first.manifest.digest);
    CHECK(strata::test::count_occurrences(f.progress.str(), "CACHED") == 1);
    CHECK_THROWS_WITH(f.build("FROM scratch\nCOPY secret.env /\n"), Catch::Contains(".dockerignore"));
}

TEST_CASE("predefined platform ARGs, proxy build args and FROM --platform", "[builder]") {
    Fixture f;
    const std::string arch = builder::oci_architecture();
    const auto r = f.build("FROM scratch\n"
                           "ARG TARGETARCH\n"
                           "ENV ARCH=$TARGETARCH OS=${TARGETOS:-unset}\n"
                           "RUN true\n",
                           {"t"}, {{"HTTP_PROXY", "http://proxy:3128"}});
    const json c = f.config(r);
    CHECK(std::find(c["config"]["Env"].begin(), c["config"]["Env"].end(), "ARCH=" + arch) != c["config"]["Env"].end());
    CHECK(std::find(c["config"]["Env"].begin(), c["config"]["Env"].end(), "OS=unset") != c["config"]["Env"].end());
    REQUIRE(f.executor.runs.size() == 1);
    const auto& env = f.executor.runs[0].env;
    CHECK(std::find(env.begin(), env.end(), "HTTP_PROXY=http://proxy:3128") != env.end());
    CHECK(std::find(env.begin(), env.end(), "TARGETARCH=" + arch) != env.end());

    CHECK_NOTHROW(f.build("FROM --platform=$BUILDPLATFORM scratch\nENV A=1\n"));
    CHECK_THROWS_WITH(f.build("FROM --platform=linux/s390x scratch\n"), Catch::Contains("only the host platform"));
}

TEST_CASE("COPY --chown resolves names in the image, --chmod takes octal and symbolic modes", "[builder]") {
    Fixture f;
    write_text(f.context / "etc" / "passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
    write_text(f.context / "etc" / "group", "root:x:0:\nstaff:x:50:\n");
    write_text(f.context / "tool", "#!/bin/sh\n");
    write_text(f.context / "data" / "a.txt", "a\n");
    ::chmod((f.context / "tool").c_str(), 0644);
    const auto r = f.build("FROM scratch\n"
                           "COPY etc /etc/\n"
                           "COPY --chown=app tool /opt/new/bin/\n"
                           "COPY --chown=app:staff --chmod=u+x,go-w tool /t2\n"
                           "COPY --chown=7 --chmod=0750 data /d/\n");
    const auto snapshots = f.store.ensure_snapshots(f.store.load_image(r.manifest));
    REQUIRE(snapshots.size() == 4);
    struct stat st {};
    REQUIRE(::stat((snapshots[1] / "opt" / "new" / "bin" / "tool").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 1000);  // a user without a group: the uid is the gid, as docker does
    CHECK((st.st_mode & 07777) == 0644);
    REQUIRE(::stat((snapshots[1] / "opt" / "new").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);  // created destination directories belong to the --chown user too
    REQUIRE(::stat((snapshots[2] / "t2").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 50);
    CHECK((st.st_mode & 07777) == 0744);
    REQUIRE(::stat((snapshots[3] / "d" / "a.txt").c_str(), &st) == 0);
    CHECK(st.st_uid == 7);
    CHECK(st.st_gid == 7);
    CHECK((st.st_mode & 07777) == 0750);

    CHECK_THROWS_WITH(f.build("FROM scratch\nCOPY --chown=nobody tool /\n"), Catch::Contains("unable to find user nobody"));
    CHECK_THROWS_WITH(f.build("FROM scratch\nCOPY --chmod=9z tool /\n"), Catch::Contains("invalid --chmod '9z'"));
}

TEST_CASE("ModeChange reads chmod's octal and symbolic forms", "[builder]") {
    using builder::ModeChange;
    CHECK(ModeChange::parse("755").apply(0600, false) == 0755);
    CHECK(ModeChange::parse("0640").apply(0777, true) == 0640);
    CHECK(ModeChange::parse("u+x").apply(0644, false) == 0744);
    CHECK(ModeChange::parse("go-rwx").apply(0755, false) == 0700);
    CHECK(ModeChange::parse("a=rX").apply(0600, false) == 0444);
    CHECK(ModeChange::parse("a=rX").apply(0700, true) == 0555);
    CHECK(ModeChange::parse("a=rX").apply(0700, false) == 0555);  // X: already executable by someone
    CHECK(ModeChange::parse("u+s,+t").apply(0755, false) == 05755);
    CHECK(ModeChange::parse("o=").apply(0777, false) == 0770);
    for (const char* bad : {"", "u", "u+q", "8", "07777a", "u+x,"}) CHECK_THROWS(ModeChange::parse(bad));
}

} // namespace builder_test
