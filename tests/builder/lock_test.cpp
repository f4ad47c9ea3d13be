// strata.lock: the file model (round trip, stable bytes, clear errors naming the file) and
// which Buildfile references a lock must cover.
#include "builder/images.hpp"
#include "builder/lock.hpp"
#include "store/registry_digests.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <nlohmann/json.hpp>

namespace lock_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::builder;

namespace {

const std::string digest_a = "sha256:" + std::string(64, 'a');
const std::string digest_b = "sha256:" + std::string(64, 'b');
const std::string digest_c = "sha256:" + std::string(64, 'c');

LockFile sample() {
    LockFile lock;
    lock.platform = "linux/amd64";
    lock.images["reg:5000/team/app:1"] = {"reg:5000/team/app:1", digest_b, digest_c, false};
    lock.images["alpine:3"] = {"docker.io/library/alpine:3", digest_a, digest_b, false};
    lock.images["mine"] = {"docker.io/library/mine:latest", digest_c, digest_c, true};
    return lock;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.message();
    }
    return "";
}

std::vector<ImageUse> uses_of(const std::string& buildfile, const std::map<std::string, std::string>& args = {}) {
    return buildfile_image_uses(buildfile, "Buildfile", args);
}

} // namespace

TEST_CASE("a lock file reads back as written, in sorted, stable bytes", "[lock]") {
    const LockFile lock = sample();
    const std::string text = lock_to_text(lock);
    CHECK(text == "{\n"
                  "  \"images\": {\n"
                  "    \"alpine:3\": {\n"
                  "      \"digest\": \"" + digest_a + "\",\n"
                  "      \"manifest\": \"" + digest_b + "\",\n"
                  "      \"name\": \"docker.io/library/alpine:3\"\n"
                  "    },\n"
                  "    \"mine\": {\n"
                  "      \"digest\": \"" + digest_c + "\",\n"
                  "      \"local\": true,\n"
                  "      \"manifest\": \"" + digest_c + "\",\n"
                  "      \"name\": \"docker.io/library/mine:latest\"\n"
                  "    },\n"
                  "    \"reg:5000/team/app:1\": {\n"
                  "      \"digest\": \"" + digest_b + "\",\n"
                  "      \"manifest\": \"" + digest_c + "\",\n"
                  "      \"name\": \"reg:5000/team/app:1\"\n"
                  "    }\n"
                  "  },\n"
                  "  \"platform\": \"linux/amd64\",\n"
                  "  \"version\": 1\n"
                  "}\n");
    const LockFile back = parse_lock(text, "strata.lock");
    CHECK(back == lock);
    CHECK(lock_to_text(back) == text);

    TempDir dir(fs::temp_directory_path(), "lock-test-");
    write_lock(dir.path() / "strata.lock", lock);
    CHECK(read_file(dir.path() / "strata.lock") == text);
    CHECK(read_lock(dir.path() / "strata.lock") == lock);
    CHECK(read_lock(dir.path() / "strata.lock").path == dir.path() / "strata.lock");
}

TEST_CASE("a locked image resolves by its platform manifest, found by any spelling of its name", "[lock]") {
    const LockFile lock = sample();
    REQUIRE(lock.find("alpine:3"));
    CHECK(lock.find("alpine:3")->pinned() == "docker.io/library/alpine@" + digest_b);
    CHECK(lock.find("docker.io/library/alpine:3") == lock.find("alpine:3"));
    CHECK(lock.find("library/alpine:3") == lock.find("alpine:3"));
    CHECK(lock.find("docker.io/library/mine:latest") == lock.find("mine"));
    CHECK(lock.find("alpine:4") == nullptr);
    CHECK(lock.find("alpine") == nullptr);
    CHECK(lock.find("NOT A NAME") == nullptr);
    CHECK(lock.find("mine")->pinned() == "docker.io/library/mine@" + digest_c);
}

TEST_CASE("a malformed lock file is an error naming the file and what is wrong", "[lock]") {
    const auto error = [](const std::string& text) { return error_of([&] { parse_lock(text, "/ctx/strata.lock"); }); };
    CHECK(error("{") == "lock file '/ctx/strata.lock': not a JSON object");
    CHECK(error("[]") == "lock file '/ctx/strata.lock': not a JSON object");
    CHECK(error(R"({"platform":"linux/amd64","images":{}})") == "lock file '/ctx/strata.lock': no \"version\"");
    CHECK(error(R"({"version":2,"platform":"linux/amd64","images":{}})") ==
          "lock file '/ctx/strata.lock': version 2 is not one this strata reads (1)");
    CHECK(error(R"({"version":1,"images":{}})") == "lock file '/ctx/strata.lock': no \"platform\"");
    CHECK(error(R"({"version":1,"platform":"linux/amd64"})") == "lock file '/ctx/strata.lock': no \"images\" object");
    CHECK(error(R"({"version":1,"platform":"linux/amd64","images":{"a":1}})") ==
          "lock file '/ctx/strata.lock': image 'a' is not a JSON object");
    CHECK(error(R"({"version":1,"platform":"linux/amd64","images":{"a":{"name":"docker.io/library/a:latest","digest":"sha256:12","manifest":")" +
                digest_a + "\"}}}") == "lock file '/ctx/strata.lock': image 'a': \"digest\" is not a sha256 digest");
    CHECK(error(R"({"version":1,"platform":"linux/amd64","images":{"a":{"name":"a","digest":")" + digest_a + R"(","manifest":")" +
                digest_a + "\"}}}") == "lock file '/ctx/strata.lock': image 'a': \"name\" 'a' is not a normalised reference");
    CHECK(error(R"({"version":1,"platform":"linux/amd64","images":{"a":{"name":"docker.io/library/a:latest","digest":")" + digest_a +
                "\"}}}") == "lock file '/ctx/strata.lock': image 'a': \"manifest\" is not a sha256 digest");
    CHECK(error(R"({"version":1,"platform":"","images":{}})").starts_with("lock file '/ctx/strata.lock': \"platform\": "));
    CHECK(error_of([] { read_lock("/nonexistent/strata.lock"); }).find("/nonexistent/strata.lock") != std::string::npos);
}

TEST_CASE("the images a Buildfile uses: FROM, COPY --from and RUN --mount from=, with global ARGs", "[lock]") {
    const auto uses = uses_of("ARG TAG=3\nARG REG=reg:5000\n"
                              "FROM alpine:${TAG} AS base\n"
                              "FROM base AS derived\nRUN --mount=type=bind,from=reg:5000/tools:1,target=/t true\n"
                              "COPY --from=base /a /a\n"
                              "FROM scratch\nCOPY --from=busybox:${TAG} /bin/busybox /busybox\nCOPY --from=0 /x /x\n"
                              "RUN --mount=from=derived,target=/d true\n");
    REQUIRE(uses.size() == 3);
    CHECK(uses[0].reference == "alpine:3");
    CHECK(uses[0].instruction == "FROM");
    CHECK(uses[0].loc.line == 3);
    CHECK(uses[1].reference == "reg:5000/tools:1");
    CHECK(uses[1].instruction == "RUN --mount from=");
    CHECK(uses[1].loc.line == 5);
    CHECK(uses[2].reference == "busybox:3");
    CHECK(uses[2].instruction == "COPY --from");
    CHECK(uses[2].loc.line == 8);

    const auto overridden = uses_of("ARG TAG=3\nFROM alpine:${TAG}\n", {{"TAG", "4"}});
    REQUIRE(overridden.size() == 1);
    CHECK(overridden[0].reference == "alpine:4");
    CHECK(uses_of("FROM sha256:" + std::string(64, 'd') + "\n").empty());  // an image id moves nowhere
}

TEST_CASE("a build checks that the lock covers every image, naming the instruction's line", "[lock]") {
    LockFile lock = sample();
    lock.path = "/ctx/strata.lock";
    const auto uses = uses_of("FROM alpine:3\nCOPY --from=docker.io/library/mine /a /a\n");
    CHECK_NOTHROW(check_lock_covers(lock, uses, "linux/amd64"));

    const auto more = uses_of("FROM alpine:3\nCOPY --from=busybox:1 /bin/sh /sh\n");
    CHECK(error_of([&] { check_lock_covers(lock, more, "linux/amd64"); }) ==
          "Buildfile:2: COPY --from busybox:1: 'busybox:1' is not in lock file '/ctx/strata.lock': run `strata lock` "
          "again (or build with --no-lock)");
    CHECK(error_of([&] { check_lock_covers(lock, uses, "linux/arm64"); }) ==
          "lock file '/ctx/strata.lock' is for linux/amd64, this build for linux/arm64: run `strata lock` again (or "
          "build with --no-lock)");
}

TEST_CASE("the lock file's default place is beside the Buildfile", "[lock]") {
    CHECK(default_lock_path("/src/app/Buildfile", "/ctx") == fs::path("/src/app/strata.lock"));
    CHECK(default_lock_path("Buildfile", "/ctx") == fs::path("./strata.lock"));
    CHECK(default_lock_path("", "/ctx") == fs::path("/ctx/strata.lock"));
}

namespace {

store::Descriptor empty_image(store::Store& store, const std::string& label) {
    const nlohmann::json config = {{"architecture", "amd64"}, {"os", "linux"}, {"config", {{"Labels", {{"l", label}}}}},
                                   {"rootfs", {{"type", "layers"}, {"diff_ids", nlohmann::json::array()}}}};
    return store.write_image(config, {});
}

} // namespace

TEST_CASE("a locked build resolves the locked digest: from the store without a pull, else pulled by digest", "[lock]") {
    TempDir dir(fs::temp_directory_path(), "lock-images-");
    store::Store store(dir.path() / "root");
    // The registry's digest differs from the stored one (a converted docker schema 2 image).
    const std::string remote = digest_a;
    const store::Descriptor stored = empty_image(store, "old");
    store.tag("reg:5000/app:1", empty_image(store, "new"));  // the tag moved on since
    LockFile lock;
    lock.platform = "linux/amd64";
    lock.path = "strata.lock";
    lock.images["reg:5000/app:1"] = {"reg:5000/app:1", digest_b, remote, false};

    std::vector<std::string> pulled;
    const ImagePuller puller = [&](const std::string& reference) {
        pulled.push_back(reference);
        store.keep_untagged(stored);
        store::remember_registry_digest(store, "reg:5000/app", remote, stored.digest);
        return stored;
    };
    {
        BaseImages images(store, PullPolicy::missing, puller, &lock);
        const BaseImage base = images.resolve("reg:5000/app:1", "FROM reg:5000/app:1");
        CHECK(pulled == std::vector<std::string>{"reg:5000/app@" + remote});
        CHECK(base.manifest.digest == stored.digest);
        CHECK(base.name == "reg:5000/app:1");
        CHECK_THROWS_WITH(images.resolve("reg:5000/app:2", "FROM reg:5000/app:2"),
                          "FROM reg:5000/app:2: 'reg:5000/app:2' is not in lock file 'strata.lock': run `strata lock` again (or "
                          "build with --no-lock)");
    }
    // Stored now: found through the registry digest even with --pull=always, with no puller at all.
    for (const PullPolicy policy : {PullPolicy::always, PullPolicy::never}) {
        BaseImages images(store, policy, nullptr, &lock);
        CHECK(images.resolve("reg:5000/app:1", "FROM reg:5000/app:1").manifest.digest == stored.digest);
    }
    CHECK(pulled.size() == 1);
    CHECK(store.resolve("reg:5000/app@" + remote)->digest == stored.digest);
    CHECK_FALSE(store.resolve("reg:5000/other@" + remote));  // the hint is the repository's only

    // A local-only image the store no longer holds is not pulled: the lock is stale.
    lock.images["mine"] = {"docker.io/library/mine:latest", digest_c, digest_c, true};
    BaseImages images(store, PullPolicy::missing, puller, &lock);
    CHECK_THROWS_WITH(images.resolve("mine", "FROM mine"), Catch::Contains("an image of this store only, which it no longer holds"));
    CHECK(pulled.size() == 1);
}

} // namespace lock_test
