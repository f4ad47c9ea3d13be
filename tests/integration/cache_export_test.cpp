// build --cache-to / --cache-from through the real binary: a cache exported from one store
// root (to Debian's docker-registry on 127.0.0.1, or to an OCI layout directory) and
// imported into an empty one, whose build then runs no RUN step and gives the same image.
#include "tests/common/busybox_store.hpp"
#include "tests/common/local_registry.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace cache_export_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct ThisFile;
BusyboxStore& busybox() { return file_store<ThisFile>(); }

// Every RUN prints "ran-42-<stage>" (the instruction's own text has "$((6*7))", so only an
// executed step prints it) and the deps stage writes into a cache mount.
const std::string buildfile = R"(FROM busybox AS deps
RUN --mount=type=cache,target=/cache,id=it-deps echo ran-$((6*7))-deps && echo downloaded > /cache/pkg && echo deps > /deps.txt
FROM busybox AS base
RUN echo ran-$((6*7))-base && echo base > /base.txt
FROM base
COPY --from=deps /deps.txt /deps.txt
RUN echo ran-$((6*7))-final && echo final > /final.txt
)";

// A store root of its own holding only busybox (a fresh CI runner with its base image).
struct Root {
    Client client;
    ScratchDir context;
    Root() {
        const auto copied = sh(busybox().cmd("save busybox") + " | " + client.env + " " + quote(STRATA_BINARY) + " --root " +
                               quote(client.root.string()) + " load");
        INFO(copied.output);
        REQUIRE(copied.exit_code == 0);
        write_text(context.path() / "Buildfile", buildfile);
    }
    // With SOURCE_DATE_EPOCH, a RUN that runs again gives the same layer (mtimes clamped).
    CommandResult build(const std::string& flags) const {
        return client.strata("build --progress plain --source-date-epoch 0 " + flags + " " + quote(context.path().string()));
    }
    // The image digest a build printed last.
    static std::string digest_of(const CommandResult& r) {
        const auto at = r.output.rfind("sha256:");
        return at == std::string::npos ? "" : r.output.substr(at, 71);
    }
    // The files of the cache mount `id`'s first instance, if any.
    bool cache_mount_has(const std::string& id, const std::string& file) const {
        const auto hex = sh_stdout("printf %s " + quote(id) + " | sha256sum | cut -c1-64").output.substr(0, 64);
        return fs::exists(client.root / "cache-mounts" / hex / "0" / file);
    }
};

std::vector<std::string> ran(const std::string& output) {
    std::vector<std::string> stages;
    for (const char* stage : {"deps", "base", "final"})
        if (output.find(std::string("ran-42-") + stage) != std::string::npos) stages.push_back(stage);
    return stages;
}

// Builds in a, exports with `to`, imports into an empty b with `from`; returns b's build.
CommandResult carry(const std::string& to, const std::string& from) {
    Root a, b;
    const auto first = a.build("--cache-to " + quote(to));
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    CHECK(ran(first.output) == std::vector<std::string>{"deps", "base", "final"});
    CHECK(first.output.find("exporting cache to") != std::string::npos);
    auto second = b.build("--cache-from " + quote(from));
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    CHECK(Root::digest_of(second) == Root::digest_of(first));
    CHECK(b.cache_mount_has("it-deps", "pkg"));  // restored by the import, or written by the RUN again
    const auto fsck = b.client.strata("fsck");
    INFO(fsck.output);
    CHECK(fsck.output.find("No problems found") != std::string::npos);
    return second;
}

} // namespace

TEST_CASE("a cache pushed to a registry lets an empty store build without running a step", "[integration][cache-export]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    const std::string ref = registry.host() + "/app:cache";
    const auto second = carry("type=registry,ref=" + ref + ",mode=max", "type=registry,ref=" + ref);
    CHECK(ran(second.output).empty());
    CHECK(second.output.find("1 cache mounts restored") != std::string::npos);

    // The registry took it as an OCI image manifest with strata's artifactType.
    const auto raw = sh_stdout("skopeo inspect --tls-verify=false --raw " + quote("docker://" + ref));
    REQUIRE(raw.exit_code == 0);
    const auto manifest = json::parse(raw.output);
    CHECK(manifest["artifactType"] == "application/vnd.strata.cache.v1");
    CHECK(manifest["config"]["mediaType"] == "application/vnd.strata.cache.config.v1+json");
}

TEST_CASE("mode=min exports only the image's own stages: another stage's RUN runs again", "[integration][cache-export]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    const std::string ref = registry.host() + "/app:min";
    const auto second = carry("type=registry,ref=" + ref, ref);  // a bare ref is a registry one, as buildx
    CHECK(ran(second.output) == std::vector<std::string>{"deps"});  // its layer is the same: COPY --from hits
    CHECK(second.output.find("0 cache mounts restored") != std::string::npos);
}

TEST_CASE("a cache written to a directory is read back from it", "[integration][cache-export]") {
    ScratchDir dir;
    const std::string cache = (dir.path() / "ci-cache").string();
    const auto second = carry("type=local,dest=" + cache + ",mode=max", "type=local,src=" + cache);
    CHECK(ran(second.output).empty());
    CHECK(second.output.find("1 cache mounts restored") != std::string::npos);
    // An OCI image layout other tools read.
    const auto raw = sh_stdout("skopeo inspect --raw " + quote("oci:" + cache + ":latest"));
    REQUIRE(raw.exit_code == 0);
    CHECK(json::parse(raw.output)["artifactType"] == "application/vnd.strata.cache.v1");
}

TEST_CASE("a missing cache is a warning, not a failed build", "[integration][cache-export]") {
    ScratchDir dir;
    Root b;
    const auto built = b.build("--cache-from type=local,src=" + quote((dir.path() / "none").string()));
    INFO(built.output);
    CHECK(built.exit_code == 0);
    CHECK(built.output.find("strata: warning: importing cache from local") != std::string::npos);
    CHECK(ran(built.output).size() == 3);
    const auto bad = b.build("--cache-to type=s3,bucket=x");
    CHECK(bad.exit_code != 0);
    CHECK(bad.output.find("cache type 's3' is not supported") != std::string::npos);
    // A check of reproducibility builds from nothing: a cache would defeat it.
    const auto check = b.build("--check-reproducible --cache-to type=local,dest=" + quote((dir.path() / "c").string()));
    CHECK(check.exit_code != 0);
    CHECK(check.output.find("it takes no --cache-from or --cache-to") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.path() / "c"));
}

} // namespace cache_export_test
