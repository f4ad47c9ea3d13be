// strata lock and locked builds against Debian's docker-registry on 127.0.0.1: a tag that
// moves after `strata lock` is not followed, a no-op rebuild needs no registry, and a fresh
// store pulls the locked digest; a docker schema 2 base (stored under a converted manifest)
// is found offline too.
#include "tests/common/busybox_store.hpp"
#include "tests/common/local_registry.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace lock_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct ThisFile;
BusyboxStore& busybox() { return file_store<ThisFile>(); }

// Builds `buildfile` in the busybox store as `tag` and pushes it to `destination`; returns
// the pushed manifest's digest.
std::string build_and_push(const std::string& buildfile, const std::string& tag, const std::string& destination) {
    const auto built = busybox().build(buildfile, "-t " + tag);
    INFO(built.output);
    REQUIRE(built.exit_code == 0);
    const auto push = busybox().strata("push " + tag + " " + quote(destination));
    INFO(push.output);
    REQUIRE(push.exit_code == 0);
    const auto at = push.output.find("@sha256:");
    REQUIRE(at != std::string::npos);
    return push.output.substr(at + 1, 71);
}

json manifest_of(const Client& client, const std::string& tag) {
    const auto raw = sh_stdout("skopeo inspect --raw " + quote("oci:" + (client.root / "oci").string() + ":" + tag));
    REQUIRE(raw.exit_code == 0);
    return json::parse(raw.output);
}

// `build` prints the image digest last on stdout.
std::string built_digest(const CommandResult& result) {
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    const auto at = result.output.rfind("sha256:");
    REQUIRE(at != std::string::npos);
    return result.output.substr(at, 71);
}

} // namespace

TEST_CASE("strata lock pins bases: a moved tag is not followed, a no-op rebuild works offline", "[integration][registry][lock]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    const std::string ref = registry.host() + "/lock/base:1";
    const std::string old_digest = build_and_push("FROM busybox\nRUN echo old > /generation\n", "lock-old", ref);

    ScratchDir context{"strata-lock-"};
    const fs::path buildfile = context.path() / "Buildfile";
    // The base comes through a global ARG, as `strata lock` must expand it like the build.
    write_text(buildfile, "ARG BASE=" + ref + "\nFROM ${BASE} AS built\nRUN cat /generation > /seen\n");
    Client client;
    const auto locked = client.strata("lock " + quote(context.path().string()));
    INFO(locked.output);
    REQUIRE(locked.exit_code == 0);
    CHECK(locked.output.find(ref + "\t" + ref + "@" + old_digest) != std::string::npos);
    const json lock = json::parse(read_text(context.path() / "strata.lock"));
    CHECK(lock["version"] == 1);
    CHECK(lock["images"][ref]["name"] == ref);
    CHECK(lock["images"][ref]["digest"] == old_digest);
    CHECK(lock["images"][ref]["manifest"] == old_digest);
    CHECK_FALSE(lock["images"][ref].contains("local"));

    // The tag moves in the registry after the lock was written.
    const std::string new_digest = build_and_push("FROM busybox\nRUN echo new > /generation\n", "lock-new", ref);
    REQUIRE(new_digest != old_digest);

    const std::string build = "build --progress plain -t app " + quote(context.path().string());
    const auto first = client.strata(build);
    const std::string app = built_digest(first);
    CHECK(first.output.find("Pull complete") != std::string::npos);
    CHECK(client.strata("run --rm app cat /seen").output == "old\n");
    const json manifest = manifest_of(client, "app:latest");
    CHECK(manifest["annotations"]["org.opencontainers.image.base.name"] == ref);
    CHECK(manifest["annotations"]["org.opencontainers.image.base.digest"] == old_digest);

    // Without the lock the tag resolves as usual, to the new image.
    Client unlocked;
    CHECK(built_digest(unlocked.strata("build --progress plain --no-lock -t app " + quote(context.path().string()))) != app);
    CHECK(unlocked.strata("run --rm app cat /seen").output == "new\n");

    // A fresh store with the registry up pulls the locked digest, not the tag.
    Client fresh;
    built_digest(fresh.strata(build));  // another image: its RUN ran at another time
    CHECK(manifest_of(fresh, "app:latest")["annotations"]["org.opencontainers.image.base.digest"] == old_digest);
    CHECK(fresh.strata("run --rm app cat /seen").output == "old\n");

    // The registry gone: the no-op rebuild needs nothing from it, even with --pull=always.
    registry.kill();
    const auto offline = client.strata(build);
    CHECK(built_digest(offline) == app);
    CHECK(offline.output.find("Pull") == std::string::npos);
    CHECK(built_digest(client.strata(build + " --pull=always")) == app);

    // A reference the lock lacks is refused before anything runs, naming its line.
    write_text(context.path() / "Other", "FROM " + ref + "\nCOPY --from=" + registry.host() + "/lock/tools:2 /x /x\n");
    const auto missing = client.strata("build --progress plain -f " + quote((context.path() / "Other").string()) + " " +
                                       quote(context.path().string()));
    CHECK(missing.exit_code != 0);
    CHECK(missing.output.find("Other:2: COPY --from " + registry.host() + "/lock/tools:2: '" + registry.host() +
                              "/lock/tools:2' is not in lock file '" + (context.path() / "strata.lock").string() +
                              "': run `strata lock` again") != std::string::npos);
    const auto malformed_path = context.path() / "broken.lock";
    write_text(malformed_path, "{\"version\": 1}");
    const auto malformed = client.strata(build + " --lock-file " + quote(malformed_path.string()));
    CHECK(malformed.exit_code != 0);
    CHECK(malformed.output.find("strata: error: lock file '" + malformed_path.string() + "': no \"platform\"") != std::string::npos);
}

TEST_CASE("a locked docker schema 2 base, stored under a converted manifest, is found offline", "[integration][registry][lock]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    const std::string ref = registry.host() + "/lock/docker:1";
    const std::string layout = "oci:" + (busybox().root / "oci").string() + ":busybox:latest";
    REQUIRE(sh("skopeo copy -q --format v2s2 --dest-tls-verify=false " + quote(layout) + " " + quote("docker://" + ref)).exit_code == 0);

    ScratchDir context{"strata-lock-"};
    write_text(context.path() / "Buildfile", "FROM " + ref + "\nRUN echo built > /built\n");
    const fs::path lock_file = context.path() / "elsewhere.lock";
    Client client;
    const auto locked = client.strata("lock --lock-file " + quote(lock_file.string()) + " " + quote(context.path().string()));
    INFO(locked.output);
    REQUIRE(locked.exit_code == 0);
    CHECK_FALSE(fs::exists(context.path() / "strata.lock"));
    const json lock = json::parse(read_text(lock_file));
    const std::string remote = lock["images"][ref]["digest"];

    const std::string build = "build --progress plain -t app --lock-file " + quote(lock_file.string()) + " " + quote(context.path().string());
    const std::string app = built_digest(client.strata(build));
    const json manifest = manifest_of(client, "app:latest");
    const std::string base = manifest["annotations"]["org.opencontainers.image.base.digest"];
    CHECK(base != remote);  // the converted OCI manifest's, as an unlocked build records it

    registry.kill();
    const auto offline = client.strata(build);
    CHECK(built_digest(offline) == app);
    CHECK(offline.output.find("Pull") == std::string::npos);
    // name@digest with the registry's digest names the converted image in the store too.
    CHECK(client.strata("run --rm " + quote(registry.host() + "/lock/docker@" + remote) + " true").exit_code == 0);
}

} // namespace lock_test
