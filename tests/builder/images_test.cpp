// FROM, COPY --from and RUN --mount from= images: found in the store or pulled by docker's
// --pull policy, once per build, with the base recorded in OCI's annotations.
#include "builder/builder.hpp"
#include "builder/images.hpp"
#include "tests/common/build_fixture.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <atomic>

namespace images_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::builder;
using json = nlohmann::json;

namespace {

class NoRunExecutor final : public Executor {
public:
    sandbox::Result run(const sandbox::Spec&) override { return {}; }
};

// A build whose puller "pulls" by writing an image (no layers, a label saying which
// pull made it) and naming it, as the registry client stores what it pulls.
struct PullFixture : test::BuildFixture<NoRunExecutor> {
    std::atomic<int> pulls = 0;

    PullFixture() {
        options.puller = [this](const std::string& reference) {
            const int n = ++pulls;
            const json config = {{"architecture", "amd64"},
                                 {"os", "linux"},
                                 {"config", {{"Labels", {{"pull", std::to_string(n)}}}}},
                                 {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
            const store::Descriptor manifest = store.write_image(config, {});
            store.tag(reference, manifest);
            return manifest;
        };
    }

    json manifest(const BuildResult& r) { return json::parse(store.read_blob(r.manifest.digest)); }
};

} // namespace

TEST_CASE("--pull policies parse as docker's and buildah's", "[images]") {
    CHECK(parse_pull_policy("missing") == PullPolicy::missing);
    CHECK(parse_pull_policy("false") == PullPolicy::missing);
    CHECK(parse_pull_policy("always") == PullPolicy::always);
    CHECK(parse_pull_policy("true") == PullPolicy::always);
    CHECK(parse_pull_policy("") == PullPolicy::always);  // the bare flag
    CHECK(parse_pull_policy("never") == PullPolicy::never);
    CHECK_THROWS_WITH(parse_pull_policy("sometimes"), Catch::Contains("expected missing, always or never"));
}

TEST_CASE("FROM pulls what the store lacks, once, and records the base", "[images]") {
    PullFixture f;
    const std::string buildfile = "FROM remote/app:1\nLABEL built=yes\n";
    const auto first = f.build_with_options(buildfile);
    CHECK(f.pulls == 1);
    const auto pulled = f.store.resolve("remote/app:1");
    REQUIRE(pulled);
    const json annotations = f.manifest(first)["annotations"];
    CHECK(annotations["org.opencontainers.image.base.name"] == "docker.io/remote/app:1");
    CHECK(annotations["org.opencontainers.image.base.digest"] == pulled->digest);
    CHECK(f.config(first)["config"]["Labels"]["pull"] == "1");

    SECTION("missing: a stored image is not pulled again") {
        const auto again = f.build_with_options(buildfile);
        CHECK(f.pulls == 1);
        CHECK(again.manifest.digest == first.manifest.digest);
    }
    SECTION("always: pulled again, once however many stages name it") {
        f.options.pull = PullPolicy::always;
        const auto again = f.build_with_options("FROM remote/app:1 AS a\nFROM remote/app:1 AS b\n"
                                                "FROM remote/app:1\nCOPY --from=remote/app:1 / /x/\n");
        CHECK(f.pulls == 2);
        CHECK(f.config(again)["config"]["Labels"]["pull"] == "2");
    }
    SECTION("always: a digest reference the store holds is not pulled") {
        f.options.pull = PullPolicy::always;
        f.build_with_options("FROM remote/app@" + pulled->digest + "\n");
        CHECK(f.pulls == 1);
    }
    SECTION("an image named by its id records no name") {
        const auto by_id = f.build_with_options("FROM " + pulled->digest.substr(7, 12) + "\n");
        CHECK(f.pulls == 1);
        const json named = f.manifest(by_id)["annotations"];
        CHECK_FALSE(named.contains("org.opencontainers.image.base.name"));
        CHECK(named["org.opencontainers.image.base.digest"] == pulled->digest);
    }
}

TEST_CASE("an image the store lacks fails the build when it cannot be pulled", "[images]") {
    PullFixture f;
    SECTION("--pull=never") {
        f.options.pull = PullPolicy::never;
        CHECK_THROWS_WITH(f.build_with_options("FROM remote/app:1\n"),
                          Catch::Contains("FROM remote/app:1: image 'remote/app:1' is not in the store (--pull=never)"));
        CHECK(f.pulls == 0);
    }
    SECTION("no puller") {
        f.options.puller = nullptr;
        CHECK_THROWS_WITH(f.build_with_options("FROM remote/app:1\n"), Catch::Contains("is not in the store"));
    }
    SECTION("the pull fails: the error says which instruction pulled") {
        f.options.puller = [](const std::string&) -> store::Descriptor { throw Error("registry said 401"); };
        CHECK_THROWS_WITH(f.build_with_options("FROM scratch\nCOPY --from=remote/tools:2 /x /x\n"),
                          Catch::Contains("COPY --from=remote/tools:2") && Catch::Contains("registry said 401"));
    }
    SECTION("FROM scratch and FROM a stage pull nothing and record no base") {
        const auto built = f.build_with_options("FROM scratch AS s\nLABEL a=b\nFROM s\n");
        CHECK(f.pulls == 0);
        CHECK_FALSE(f.manifest(built).contains("annotations"));
    }
}

} // namespace images_test
