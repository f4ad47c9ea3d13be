// RUN --mount, --network, --security and heredoc scripts against a fake executor: what the
// sandbox is asked to mount (seen while the "command" runs, since the sources live only
// that long), what enters the cache key, and how a missing secret or agent is reported.
#include "builder/builder.hpp"
#include "builder/run_mounts.hpp"
#include "store/cache_mounts.hpp"
#include "tests/common/build_fixture.hpp"
#include "tests/common/shell.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace run_mounts_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using strata::test::ScratchDir;
using strata::test::write_text;
using strata::test::read_text;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// What one mount showed while the command ran.
struct SeenMount {
    sandbox::Mount mount;
    bool is_dir = false;
    std::vector<std::string> names;  // a directory's entries, sorted
    std::string content;             // a file's
    unsigned mode = 0;
    unsigned uid = 0;
};

struct SeenRun {
    sandbox::Spec spec;
    std::vector<SeenMount> mounts;

    const SeenMount* at(const std::string& target) const {
        for (const auto& m : mounts)
            if (m.mount.target == target) return &m;
        return nullptr;
    }
    bool has_env(const std::string& entry) const {
        return std::find(spec.env.begin(), spec.env.end(), entry) != spec.env.end();
    }
};

class RecordingExecutor final : public builder::Executor {
public:
    std::vector<SeenRun> runs;
    std::function<void(const sandbox::Spec&)> during_run;  // e.g. write into a cache mount

    sandbox::Result run(const sandbox::Spec& spec) override {
        SeenRun seen;
        seen.spec = spec;
        for (const auto& m : spec.mounts) {
            SeenMount s;
            s.mount = m;
            if (m.kind == sandbox::Mount::Kind::bind) {
                struct stat st {};
                REQUIRE(::stat(m.source.c_str(), &st) == 0);
                s.is_dir = S_ISDIR(st.st_mode);
                s.mode = st.st_mode & 07777;
                s.uid = st.st_uid;
                if (s.is_dir) {
                    for (const auto& e : fs::directory_iterator(m.source)) s.names.push_back(e.path().filename().string());
                    std::sort(s.names.begin(), s.names.end());
                } else if (S_ISREG(st.st_mode)) {
                    s.content = read_text(m.source);
                }
            }
            seen.mounts.push_back(s);
        }
        if (during_run) during_run(spec);
        runs.push_back(seen);
        return {};
    }
};

struct Fixture : test::BuildFixture<RecordingExecutor> {
    builder::BuildResult build(const std::string& buildfile) {
        executor.runs.clear();
        return build_with_options(buildfile);
    }
    const SeenRun& only_run() const {
        REQUIRE(executor.runs.size() == 1);
        return executor.runs.front();
    }
};

// Every file under dir whose bytes contain `text`.
std::vector<fs::path> files_containing(const fs::path& dir, const std::string& text) {
    std::vector<fs::path> found;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file() && read_text(entry.path()).find(text) != std::string::npos) found.push_back(entry.path());
    }
    return found;
}

} // namespace

TEST_CASE("a cache mount is a store directory that outlives the build and stays out of the key", "[builder][mounts]") {
    Fixture f;
    f.executor.during_run = [](const sandbox::Spec& spec) {
        for (const auto& m : spec.mounts) write_text(m.source / "downloaded", "cached bytes");
    };
    f.build("FROM scratch\nRUN --mount=type=cache,target=/root/.cache,id=dl,mode=0700,uid=7 fetch\n");
    const auto& first = f.only_run();
    REQUIRE(first.mounts.size() == 1);
    const auto& cache = first.mounts[0];
    CHECK(cache.mount.target == "/root/.cache");
    CHECK_FALSE(cache.mount.read_only);
    CHECK(cache.is_dir);
    CHECK(cache.mode == 0700);
    CHECK(cache.uid == 7);
    CHECK(cache.mount.source.string().rfind(store::cache_mounts_dir(f.store).string(), 0) == 0);
    const fs::path cache_dir = cache.mount.source;  // `cache` goes with the next build's runs

    // Another step, another build: the same id sees what the first one left.
    f.executor.during_run = nullptr;
    f.build("FROM scratch\nRUN --mount=type=cache,target=/elsewhere,id=dl other\n");
    CHECK(f.only_run().mounts[0].names == std::vector<std::string>{"downloaded"});

    SECTION("the default id is the target") {
        f.build("FROM scratch\nRUN --mount=type=cache,target=/root/.cache third\n");
        CHECK(f.only_run().mounts[0].names.empty());
    }
    SECTION("its contents do not change the step's key") {
        write_text(cache_dir / "more", "x");
        f.build("FROM scratch\nRUN --mount=type=cache,target=/elsewhere,id=dl other\n");
        CHECK(f.executor.runs.empty());
        CHECK(f.cached() == 1);
    }
}

TEST_CASE("a bind from the context is read-only, keyed by its content and filtered by .dockerignore", "[builder][mounts]") {
    Fixture f;
    write_text(f.context / "src" / "main.c", "int main(){}\n");
    write_text(f.context / "src" / "notes.secret", "private\n");
    write_text(f.context / ".dockerignore", "**/*.secret\n");
    const std::string buildfile = "FROM scratch\nWORKDIR /work\nRUN --mount=type=bind,source=src,target=code make\n";
    f.build(buildfile);
    const auto& run = f.only_run();
    REQUIRE(run.mounts.size() == 1);
    CHECK(run.mounts[0].mount.target == "/work/code");  // relative to WORKDIR
    CHECK(run.mounts[0].mount.read_only);
    CHECK(run.mounts[0].names == std::vector<std::string>{"main.c"});

    f.build(buildfile);
    CHECK(f.executor.runs.empty());

    SECTION("an ignored file does not change the key") {
        write_text(f.context / "src" / "notes.secret", "changed\n");
        f.build(buildfile);
        CHECK(f.executor.runs.empty());
    }
    SECTION("a changed file does") {
        write_text(f.context / "src" / "main.c", "int main(){return 1;}\n");
        f.build(buildfile);
        CHECK(f.executor.runs.size() == 1);
    }
    SECTION("a symlink cannot point the source outside the context") {
        fs::create_symlink("/etc", f.context / "escape");
        CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=bind,source=escape,target=/e cat /e/passwd\n"),
                          Catch::Contains("Buildfile:2") &&
                              Catch::Contains("RUN --mount=type=bind,source=escape,target=/e: 'escape' is not in the build context"));
        fs::create_symlink("../src", f.context / "inside");
        f.build("FROM scratch\nRUN --mount=type=bind,source=inside,target=/e ls /e\n");
        CHECK(f.only_run().mounts[0].names == std::vector<std::string>{"main.c"});
    }
}

TEST_CASE("a rw bind lets the command write, but to a copy that is thrown away", "[builder][mounts]") {
    Fixture f;
    write_text(f.context / "dir" / "a.txt", "a");
    write_text(f.context / "single.txt", "one");
    f.executor.during_run = [](const sandbox::Spec& spec) {
        for (const auto& m : spec.mounts) {
            CHECK_FALSE(m.read_only);
            if (fs::is_directory(m.source)) write_text(m.source / "written", "w");
            else write_text(m.source, "overwritten");
        }
    };
    f.build("FROM scratch\n"
            "RUN --mount=type=bind,source=dir,target=/d,rw --mount=type=bind,source=single.txt,target=/s,rw work\n");
    CHECK(f.only_run().mounts.size() == 2);
    CHECK_FALSE(fs::exists(f.context / "dir" / "written"));
    CHECK(read_text(f.context / "single.txt") == "one");
}

TEST_CASE("a bind from another stage shows that stage's files", "[builder][mounts]") {
    Fixture f;
    write_text(f.context / "tool.sh", "echo tool\n");
    f.build("FROM scratch AS tools\nCOPY tool.sh /opt/tool.sh\n"
            "FROM scratch\nRUN --mount=type=bind,from=tools,source=/opt,target=/tools /tools/tool.sh\n");
    const auto& run = f.only_run();
    REQUIRE(run.mounts.size() == 1);
    CHECK(run.mounts[0].names == std::vector<std::string>{"tool.sh"});
    CHECK(run.mounts[0].mount.read_only);

    SECTION("the stage's content is part of the key") {
        write_text(f.context / "tool.sh", "echo changed\n");
        f.build("FROM scratch AS tools\nCOPY tool.sh /opt/tool.sh\n"
                "FROM scratch\nRUN --mount=type=bind,from=tools,source=/opt,target=/tools /tools/tool.sh\n");
        CHECK(f.executor.runs.size() == 1);
    }
}

TEST_CASE("a bind from an image in the store", "[builder][mounts]") {
    Fixture f;
    write_text(f.context / "data.txt", "image data");
    f.build("FROM scratch\nCOPY data.txt /share/data.txt\n");
    f.options.tags = {"final"};
    f.build("FROM scratch\nRUN --mount=type=bind,from=t,source=share/data.txt,target=/d cat /d\n");
    CHECK(f.only_run().mounts[0].content == "image data");
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=bind,from=nosuch,target=/d true\n"),
                      Catch::Contains("image 'nosuch' is not in the store"));
}

TEST_CASE("tmpfs mounts reach the sandbox with their size", "[builder][mounts]") {
    Fixture f;
    f.build("FROM scratch\nRUN --mount=type=tmpfs,target=/scratch,size=64m work\n");
    const auto& m = f.only_run().mounts.at(0).mount;
    CHECK(m.kind == sandbox::Mount::Kind::tmpfs);
    CHECK(m.target == "/scratch");
    CHECK(m.size_bytes == 64 << 20);
}

TEST_CASE("secrets are mounted or exposed, and never enter the key, the config or the store", "[builder][mounts]") {
    Fixture f;
    const std::string value = "hunter2-very-secret";
    write_text(f.dir.path() / "token.txt", value);
    f.options.secrets["token"] = builder::SecretSource{f.dir.path() / "token.txt", ""};
    ::setenv("STRATA_TEST_SECRET", (value + "-env").c_str(), 1);
    f.options.secrets["envtoken"] = builder::SecretSource{{}, "STRATA_TEST_SECRET"};
    const auto result = f.build("FROM scratch\n"
                                "RUN --mount=type=secret,id=token "
                                "--mount=type=secret,id=token,target=/etc/tok,mode=0440,uid=5 "
                                "--mount=type=secret,id=envtoken,env=TOKEN use-it\n");
    const auto& run = f.only_run();
    REQUIRE(run.mounts.size() == 2);
    const auto* by_default = run.at("/run/secrets/token");
    REQUIRE(by_default);
    CHECK(by_default->content == value);
    CHECK(by_default->mode == 0400);
    CHECK(by_default->mount.read_only);
    const auto* custom = run.at("/etc/tok");
    REQUIRE(custom);
    CHECK(custom->mode == 0440);
    CHECK(custom->uid == 5);
    CHECK(run.has_env("TOKEN=" + value + "-env"));  // env only: no file

    CHECK(files_containing(f.store.root(), value).empty());  // records, blobs, snapshots
    CHECK(f.store.load_image(result.manifest).config.dump().find("TOKEN=") == std::string::npos);

    SECTION("a changed secret keeps the cache, as in BuildKit") {
        write_text(f.dir.path() / "token.txt", "rotated");
        f.build("FROM scratch\n"
                "RUN --mount=type=secret,id=token "
                "--mount=type=secret,id=token,target=/etc/tok,mode=0440,uid=5 "
                "--mount=type=secret,id=envtoken,env=TOKEN use-it\n");
        CHECK(f.executor.runs.empty());
    }
    ::unsetenv("STRATA_TEST_SECRET");
}

TEST_CASE("a missing secret is skipped, unless required, which names the mount", "[builder][mounts]") {
    Fixture f;
    f.build("FROM scratch\nRUN --mount=type=secret,id=absent maybe\n");
    CHECK(f.only_run().mounts.empty());
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=secret,id=foo,required=true need\n"),
                      Catch::Contains("Buildfile:2:1") &&
                          Catch::Contains("RUN --mount=type=secret,id=foo: secret 'foo' was not given (--secret id=foo,"));
}

TEST_CASE("an ssh mount binds the agent's socket and sets SSH_AUTH_SOCK", "[builder][mounts]") {
    Fixture f;
    const fs::path socket_path = f.dir.path() / "agent.sock";
    const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
    REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(sock);

    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=ssh,required=true git clone\n"),
                      Catch::Contains("RUN --mount=type=ssh: no ssh agent 'default' was given"));
    f.build("FROM scratch\nRUN --mount=type=ssh git clone\n");
    CHECK(f.only_run().mounts.empty());

    f.options.ssh_agents = {builder::parse_ssh_flag("default", socket_path.c_str())};
    f.build("FROM scratch\nRUN --mount=type=ssh --mount=type=ssh,id=default,target=/agent git clone\n");
    const auto& run = f.only_run();
    REQUIRE(run.mounts.size() == 2);
    CHECK(run.at("/run/buildkit/ssh_agent.0"));
    CHECK(run.at("/agent"));
    CHECK(run.mounts[0].mount.source == socket_path);
    CHECK(run.has_env("SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"));
}

TEST_CASE("--network=none asks for a network namespace of its own, and is part of the key", "[builder][mounts]") {
    Fixture f;
    f.build("FROM scratch\nRUN fetch\n");
    CHECK(f.only_run().spec.host_network);
    f.build("FROM scratch\nRUN --network=none fetch\n");
    CHECK_FALSE(f.only_run().spec.host_network);
    f.build("FROM scratch\nRUN --network=host fetch\n");
    CHECK(f.executor.runs.empty());  // host is what RUN had: same key
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --security=insecure make\n"),
                      Catch::Contains("Buildfile:2") && Catch::Contains("--security=insecure is not supported"));
    f.build("FROM scratch\nRUN --security=sandbox fetch\n");
    CHECK(f.executor.runs.empty());
}

TEST_CASE("a heredoc script is mounted read-only and run by the shell; other heredocs go to the shell", "[builder][mounts]") {
    Fixture f;
    f.build("FROM scratch\nRUN <<EOF\n#!/usr/bin/env python3\nprint('hi')\nEOF\n");
    const auto& run = f.only_run();
    CHECK(run.spec.argv == std::vector<std::string>{"/bin/sh", "-c", "/dev/pipes/EOF"});
    const auto* script = run.at("/dev/pipes/EOF");
    REQUIRE(script);
    CHECK(script->content == "#!/usr/bin/env python3\nprint('hi')\n");
    CHECK(script->mode == 0755);
    CHECK(script->mount.read_only);

    f.build("FROM scratch\nRUN <<EOF\n#!/usr/bin/env python3\nprint('changed')\nEOF\n");
    CHECK(f.executor.runs.size() == 1);  // the script's content is in the key

    f.build("FROM scratch\nRUN python3 <<EOF\nprint('stdin')\nEOF\n");
    CHECK(f.only_run().spec.argv == std::vector<std::string>{"/bin/sh", "-c", "python3 <<EOF\nprint('stdin')\nEOF"});
    CHECK(f.only_run().mounts.empty());
}

TEST_CASE("mount targets are required where BuildKit needs them", "[builder][mounts]") {
    Fixture f;
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=cache true\n"),
                      Catch::Contains("RUN --mount=type=cache: target= is required"));
    CHECK_THROWS_WITH(f.build("FROM scratch\nRUN --mount=type=cache,target=/c,from=x true\n"),
                      Catch::Contains("not supported yet"));
}

TEST_CASE("--secret and --ssh read docker buildx's syntax", "[builder][mounts]") {
    auto [id, file] = builder::parse_secret_flag("id=npm,src=/run/npmrc");
    CHECK(id == "npm");
    CHECK(file.file == "/run/npmrc");
    auto [env_id, env] = builder::parse_secret_flag("id=tok,env=GITHUB_TOKEN");
    CHECK(env_id == "tok");
    CHECK(env.env == "GITHUB_TOKEN");
    CHECK(builder::parse_secret_flag("type=env,id=x,src=VAR").second.env == "VAR");
    ::setenv("STRATA_TEST_BARE", "1", 1);
    CHECK(builder::parse_secret_flag("id=STRATA_TEST_BARE").second.env == "STRATA_TEST_BARE");
    ::unsetenv("STRATA_TEST_BARE");
    CHECK(builder::parse_secret_flag("id=STRATA_TEST_BARE").second.file == fs::absolute("STRATA_TEST_BARE"));
    CHECK_THROWS_WITH(builder::parse_secret_flag("id=x,bogus=1"), Catch::Contains("--secret id=x,bogus=1: unexpected key 'bogus'"));
    CHECK_THROWS_WITH(builder::parse_secret_flag("src="), Catch::Contains("an id is required"));

    CHECK_THROWS_WITH(builder::parse_ssh_flag("default", nullptr), Catch::Contains("SSH_AUTH_SOCK is not set"));
    CHECK_THROWS_WITH(builder::parse_ssh_flag("key=/etc/hostname", nullptr), Catch::Contains("is not a socket"));
}

TEST_CASE("cache mount directories: shared users share, private ones get their own, locked excludes", "[builder][mounts]") {
    ScratchDir dir;
    store::Store store(dir.path() / "root");
    const auto lock_free = [&](const fs::path& instance, const char* how) {
        return strata::test::sh("flock -n " + std::string(how) + " " + strata::test::quote(instance.string() + ".lock") + " true")
                   .exit_code == 0;
    };
    {
        const auto a = store::acquire_cache_mount(store, "id", store::CacheSharing::shared);
        const auto b = store::acquire_cache_mount(store, "id", store::CacheSharing::shared);
        CHECK(a.path() == b.path());
        CHECK(lock_free(a.path(), "-s"));
        CHECK_FALSE(lock_free(a.path(), "-x"));  // a locked user would wait
        const auto p = store::acquire_cache_mount(store, "id", store::CacheSharing::private_instance);
        CHECK(p.path() != a.path());
        const auto other = store::acquire_cache_mount(store, "other", store::CacheSharing::shared);
        CHECK(other.path().parent_path() != a.path().parent_path());
    }
    const auto locked = store::acquire_cache_mount(store, "id", store::CacheSharing::locked);
    CHECK_FALSE(lock_free(locked.path(), "-s"));
    const auto first_private = store::acquire_cache_mount(store, "id", store::CacheSharing::private_instance);
    CHECK(first_private.path() != locked.path());
    CHECK(read_text(locked.path().parent_path() / "id") == "id\n");
}

} // namespace run_mounts_test
