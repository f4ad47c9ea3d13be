// --cache-to / --cache-from against a fake executor: the flags, the artifact carried from
// one store to an empty one through an OCI layout directory (mode=min and mode=max, cache
// mounts), and artifacts that are damaged or not a cache at all.
#include "builder/cache.hpp"
#include "builder/cache_export.hpp"
#include "store/artifact.hpp"
#include "store/cache_mounts.hpp"
#include "store/fsck.hpp"
#include "tests/common/build_fixture.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

namespace cache_export_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::builder;
using strata::test::read_text;
using strata::test::ScratchDir;
using strata::test::write_text;
using json = nlohmann::json;

namespace {

class CountingExecutor final : public Executor {
public:
    std::vector<std::string> commands;  // the last argv word of every RUN executed
    sandbox::Result run(const sandbox::Spec& spec) override {
        commands.push_back(spec.argv.back());
        write_text(spec.upper_dir / ("out-" + spec.argv.back()), spec.argv.back());
        return {};
    }
};

struct Fixture : test::BuildFixture<CountingExecutor> {
    BuildResult build(const std::string& buildfile) {
        executor.commands.clear();
        return build_with_options(buildfile);
    }
};

const std::string two_stages = "FROM scratch AS side\nRUN side-step\n"
                               "FROM scratch AS base\nRUN base-step\n"
                               "FROM base\nCOPY --from=side /out-side-step /from-side\nRUN final-step\n";

// Exports a's last build into a layout directory, imports it into b; returns the import.
CacheImportSummary carry(Fixture& a, const BuildResult& built, Fixture& b, CacheMode mode) {
    ScratchDir layout;
    const auto exported = write_cache_artifact(a.store, built, mode);
    store::write_artifact_layout(a.store, exported.manifest, layout.path() / "cache", "latest");
    const auto manifest = store::read_artifact_layout(b.store, layout.path() / "cache", "latest");
    REQUIRE(manifest);
    CHECK(manifest->digest == exported.manifest.digest);
    return import_cache_artifact(b.store, *manifest);
}

} // namespace

TEST_CASE("--cache-to and --cache-from take buildx's key=value lists", "[cache-export]") {
    const auto registry = parse_cache_spec("type=registry,ref=reg:5000/app:cache,mode=max", true);
    CHECK(registry.type == CacheSpec::Type::registry);
    CHECK(registry.ref == "reg:5000/app:cache");
    CHECK(registry.mode == CacheMode::max);
    CHECK(parse_cache_spec("reg:5000/app:cache", false).ref == "reg:5000/app:cache");  // a bare ref, as buildx
    CHECK(parse_cache_spec("ref=reg:5000/app", false).type == CacheSpec::Type::registry);
    const auto local = parse_cache_spec("type=local,dest=/ci/cache,tag=main,ignore-error=true", true);
    CHECK(local.type == CacheSpec::Type::local);
    CHECK(local.dir == "/ci/cache");
    CHECK(local.tag == "main");
    CHECK(local.ignore_error);
    CHECK(local.mode == CacheMode::min);
    CHECK(parse_cache_spec("type=local,src=/ci/cache", false).dir == "/ci/cache");

    CHECK_THROWS_WITH(parse_cache_spec("type=gha", true), Catch::Contains("not supported"));
    CHECK_THROWS_WITH(parse_cache_spec("type=local,src=/x", true), Catch::Contains("unknown key 'src'"));
    CHECK_THROWS_WITH(parse_cache_spec("type=local,dest=/x", false), Catch::Contains("unknown key 'dest'"));
    CHECK_THROWS_WITH(parse_cache_spec("type=local", true), Catch::Contains("needs dest=DIR"));
    CHECK_THROWS_WITH(parse_cache_spec("type=registry", false), Catch::Contains("needs ref="));
    CHECK_THROWS_WITH(parse_cache_spec("type=registry,ref=x,mode=max", false), Catch::Contains("unknown key 'mode'"));
    CHECK_THROWS_WITH(parse_cache_spec("type=registry,ref=x,mode=all", true), Catch::Contains("min or max"));
    CHECK_THROWS_WITH(parse_cache_spec("type=registry,ref=UPPER/Case", true), Catch::Contains("--cache-to"));
    CHECK_THROWS_WITH(parse_cache_spec("type=local,dest", true), Catch::Contains("KEY=VALUE"));
}

TEST_CASE("a cache exported from one store lets an empty store build without running a step", "[cache-export]") {
    Fixture a, b;
    const auto built = a.build(two_stages);
    REQUIRE(a.executor.commands.size() == 3);

    const auto imported = carry(a, built, b, CacheMode::max);
    CHECK(imported.records == 4);  // three RUNs and the COPY
    CHECK(imported.warnings.empty());
    CHECK(store::fsck(b.store).problems.empty());  // records name no snapshot before one exists
    const auto again = b.build(two_stages);
    CHECK(b.executor.commands.empty());
    CHECK(again.manifest.digest == built.manifest.digest);
    CHECK(b.cached() == 4);
    // The snapshots were unpacked from the imported blobs on the first hit.
    CHECK(read_text(b.top_layer(again) / "out-final-step") == "final-step");
    CHECK(store::fsck(b.store).problems.empty());

    SECTION("importing again keeps the records this store has") {
        const auto twice = carry(a, built, b, CacheMode::max);
        CHECK(twice.records == 0);
        CHECK(twice.kept == 4);
    }
}

TEST_CASE("mode=min carries only the steps of the image's own stages", "[cache-export]") {
    Fixture a, b;
    // Clamped mtimes: side's RUN, run again in b, gives the same layer, so COPY --from hits.
    a.options.source_date_epoch = b.options.source_date_epoch = 0;
    const auto built = a.build(two_stages);
    CHECK(carry(a, built, b, CacheMode::min).records == 3);  // base's RUN, the final COPY and RUN
    const auto again = b.build(two_stages);
    CHECK(b.executor.commands == std::vector<std::string>{"side-step"});
    CHECK(again.manifest.digest == built.manifest.digest);  // side's RUN gave the same file: COPY hit
}

TEST_CASE("mode=max carries the cache mounts' files into an empty cache mount only", "[cache-export]") {
    Fixture a, b;
    const std::string buildfile = "FROM scratch\nRUN --mount=type=cache,id=deps,target=/deps fetch\n";
    const auto built = a.build(buildfile);
    write_text(store::acquire_cache_mount(a.store, "deps", store::CacheSharing::shared).path() / "pkg" / "lib.a", "deps");

    SECTION("into an empty one") {
        const auto imported = carry(a, built, b, CacheMode::max);
        CHECK(imported.mounts == 1);
        CHECK(read_text(store::acquire_cache_mount(b.store, "deps", store::CacheSharing::shared).path() / "pkg" / "lib.a") == "deps");
    }
    SECTION("never over local files") {
        write_text(store::acquire_cache_mount(b.store, "deps", store::CacheSharing::shared).path() / "mine", "local");
        CHECK(carry(a, built, b, CacheMode::max).mounts == 0);
        const auto dir = store::acquire_cache_mount(b.store, "deps", store::CacheSharing::shared).path();
        CHECK(read_text(dir / "mine") == "local");
        CHECK_FALSE(fs::exists(dir / "pkg"));
    }
    SECTION("not with mode=min") {
        CHECK(carry(a, built, b, CacheMode::min).mounts == 0);
    }
}

TEST_CASE("a damaged or foreign cache artifact is refused or skipped, never trusted", "[cache-export]") {
    Fixture a, b;
    const auto built = a.build("FROM scratch\nRUN one\nRUN two\n");
    const auto exported = write_cache_artifact(a.store, built, CacheMode::max);
    const store::Artifact artifact = store::read_artifact(a.store, exported.manifest);
    json config = json::parse(a.store.read_blob(artifact.config.digest));
    REQUIRE(config["records"].size() == 2);

    // The same artifact with another config, moved into b.
    const auto rewritten = [&](const json& changed) {
        const auto blob = a.store.put_blob(changed.dump(), cache_config_media_type);
        const auto manifest = store::write_artifact(a.store, cache_artifact_type, blob, artifact.layers);
        ScratchDir layout;
        store::write_artifact_layout(a.store, manifest, layout.path(), "latest");
        return *store::read_artifact_layout(b.store, layout.path(), "latest");
    };

    SECTION("a record whose step does not hash to its key is skipped") {
        config["records"][0]["step"]["argv"] = json::array({"/bin/sh", "-c", "evil"});
        const auto imported = import_cache_artifact(b.store, rewritten(config));
        CHECK(imported.records == 1);
        REQUIRE(imported.warnings.size() == 1);
        CHECK_THAT(imported.warnings[0], Catch::Contains("does not hash to its key"));
    }
    SECTION("a chain that does not end in the output is skipped") {
        for (auto& record : config["records"]) record["output"]["chain_id"] = "sha256:" + std::string(64, 'a');
        const auto imported = import_cache_artifact(b.store, rewritten(config));
        CHECK(imported.records == 0);
        CHECK(imported.warnings.size() == 2);
    }
    SECTION("a layer that is not what its diff id says is a miss: the step runs") {
        // A consistent lie: the diff id (and so the chain id) of another tar.
        const std::string fake = "sha256:" + std::string(64, 'b');
        for (auto& record : config["records"]) {
            record["output"]["diff_id"] = fake;
            record["chain"] = json::array({{{"layer", record["chain"][0]["layer"]}, {"diff_id", fake}}});
            record["output"]["layer"] = record["chain"][0]["layer"];
            record["output"]["chain_id"] = fake;
        }
        config["records"].erase(1);
        CHECK(import_cache_artifact(b.store, rewritten(config)).records == 1);
        b.build("FROM scratch\nRUN one\nRUN two\n");
        CHECK(b.executor.commands.size() == 2);
        CHECK_FALSE(b.store.has_snapshot(fake));
    }
    SECTION("another format version is refused whole") {
        config["v"] = 99;
        CHECK_THROWS_WITH(import_cache_artifact(b.store, rewritten(config)), Catch::Contains("format version"));
    }
    SECTION("an image is not a cache") {
        ScratchDir layout;
        store::write_artifact_layout(a.store, built.manifest, layout.path(), "latest");
        const auto manifest = store::read_artifact_layout(b.store, layout.path(), "latest");
        CHECK_THROWS_WITH(import_cache_artifact(b.store, *manifest), Catch::Contains("not a strata build cache"));
    }
    SECTION("a blob damaged in the layout directory is refused") {
        ScratchDir layout;
        store::write_artifact_layout(a.store, exported.manifest, layout.path(), "latest");
        const auto layer = artifact.layers.front();
        write_text(layout.path() / "blobs" / "sha256" / layer.digest.substr(7), "not the layer");
        CHECK_THROWS_WITH(store::read_artifact_layout(b.store, layout.path(), "latest"), Catch::Contains("corrupt"));
        CHECK_FALSE(b.store.has_blob(layer.digest));
    }
    SECTION("a directory without the name holds no cache") {
        ScratchDir layout;
        CHECK_FALSE(store::read_artifact_layout(b.store, layout.path(), "latest"));
        store::write_artifact_layout(a.store, exported.manifest, layout.path(), "other");
        CHECK_FALSE(store::read_artifact_layout(b.store, layout.path(), "latest"));
    }
}

} // namespace cache_export_test
