// Garbage collection: what images and records keep alive stays, the rest goes; records are
// chosen by cost, age and last use; a collection waits for processes that use the store.
#include "helpers.hpp"
#include "store/gc.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>

namespace gc_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

struct StoredLayer {
    Descriptor blob;
    std::string diff_id;
    std::string chain_id;
};

struct Fixture {
    TempDir root{test_tmp()};
    Store store{root.path()};

    // A real layer blob and its snapshot, on top of `parent` (a chain id, or none).
    StoredLayer layer(const std::string& content, const std::string& parent = "") {
        TempDir staging = store.new_snapshot_staging();
        write_text(staging.path() / "file", content);
        const Layer l = store.write_layer(staging.path());
        const std::string chain = parent.empty() ? l.diff_id : next_chain_id(parent, l.diff_id);
        store.commit_snapshot(std::move(staging), chain);
        return {l.descriptor, l.diff_id, chain};
    }

    Descriptor tagged_image(const std::string& tag, const std::vector<StoredLayer>& layers) {
        json diff_ids = json::array();
        std::vector<Descriptor> blobs;
        for (const auto& l : layers) {
            diff_ids.push_back(l.diff_id);
            blobs.push_back(l.blob);
        }
        const json config = {{"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
        const Descriptor manifest = store.write_image(config, blobs);
        store.tag(tag, manifest);
        return manifest;
    }

    void record(const std::string& key, const StoredLayer& l, long long age_seconds = 0) {
        store.put_record("steps", key, {{"refs", {{"blobs", {l.blob.digest}}, {"snapshots", {l.chain_id}}}}});
        if (age_seconds > 0) set_age(key, age_seconds);
    }

    void set_age(const std::string& key, long long age_seconds) {
        const auto path = root.path() / "records" / "steps" / (key + ".json");
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        const struct timespec t = {std::chrono::duration_cast<std::chrono::seconds>(now).count() - age_seconds, 0};
        const struct timespec times[2] = {t, t};
        REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
    }

    bool has_record(const std::string& key) const { return store.get_record("steps", key).has_value(); }
};

PruneOptions cache_prune() {
    PruneOptions options;
    options.namespaces = {"steps"};
    return options;
}

} // namespace

TEST_CASE("prune keeps tagged images whole and removes what only the cache or nothing keeps", "[gc]") {
    Fixture f;
    const auto base = f.layer("base");
    const auto top = f.layer("top", base.chain_id);
    const Descriptor image = f.tagged_image("img", {base, top});
    const auto cache_only = f.layer("cache only", top.chain_id);
    f.record("in-image", top);
    f.record("cache-only", cache_only);
    const Descriptor junk = f.store.put_blob("nobody's", "application/octet-stream");
    const auto orphan = f.layer("orphan");
    f.store.put_record("other", "unrelated", {{"x", 1}});

    const PruneResult result = prune(f.store, cache_prune());
    CHECK(result.records_removed == 1);
    CHECK(result.blobs_removed == 3);      // junk, and the layers of cache-only and orphan
    CHECK(result.snapshots_removed == 2);  // cache-only, orphan
    CHECK(result.bytes_freed > 0);

    CHECK(f.has_record("in-image"));  // costs nothing: the image keeps its layer anyway
    CHECK_FALSE(f.has_record("cache-only"));
    CHECK(f.store.get_record("other", "unrelated"));
    CHECK_FALSE(f.store.has_blob(junk.digest));
    CHECK_FALSE(f.store.has_blob(cache_only.blob.digest));
    CHECK_FALSE(f.store.has_snapshot(cache_only.chain_id));
    CHECK_FALSE(f.store.has_blob(orphan.blob.digest));
    CHECK_FALSE(f.store.has_snapshot(orphan.chain_id));
    // The image is intact: manifest, config, layers, snapshots.
    const Image loaded = f.store.load_image(*f.store.resolve("img"));
    CHECK(loaded.manifest_descriptor.digest == image.digest);
    for (const auto& layer : loaded.layers()) CHECK(f.store.has_blob(layer.digest));
    CHECK(f.store.has_snapshot(base.chain_id));
    CHECK(f.store.has_snapshot(top.chain_id));
    CHECK(f.store.ensure_snapshots(loaded).size() == 2);
    // Nothing left in the scratch space either.
    CHECK(fs::is_empty(f.store.tmp_dir()));

    SECTION("--all removes records whose layers an image uses too; the image stays") {
        CHECK(prune(f.store, [] { auto o = cache_prune(); o.all = true; return o; }()).records_removed == 1);
        CHECK_FALSE(f.has_record("in-image"));
        CHECK(f.store.has_snapshot(top.chain_id));
        CHECK(f.store.has_blob(top.blob.digest));
    }
}

TEST_CASE("prune --keep-storage removes least recently used records first", "[gc]") {
    Fixture f;
    const auto oldest = f.layer("oldest");
    const auto middle = f.layer("middle");
    const auto newest = f.layer("newest");
    f.record("oldest", oldest, 3000);
    f.record("middle", middle, 2000);
    f.record("newest", newest, 1000);
    const DiskUsage before = disk_usage(f.store, {"steps"});
    REQUIRE(before.cache_records == 3);
    const std::int64_t total = before.cache_blobs.bytes + before.cache_snapshots.bytes;
    REQUIRE(total > 0);

    auto options = cache_prune();
    options.keep_bytes = total - 1;  // one record has to go: the least recently used
    CHECK(prune(f.store, options).records_removed == 1);
    CHECK_FALSE(f.has_record("oldest"));
    CHECK(f.has_record("middle"));
    CHECK(f.has_record("newest"));
    CHECK_FALSE(f.store.has_snapshot(oldest.chain_id));
    CHECK(f.store.has_snapshot(middle.chain_id));

    SECTION("a hit makes a record recent again") {
        mark_record_used(f.store, "steps", "middle");
        const DiskUsage now = disk_usage(f.store, {"steps"});
        options.keep_bytes = now.cache_blobs.bytes + now.cache_snapshots.bytes - 1;
        CHECK(prune(f.store, options).records_removed == 1);
        CHECK(f.has_record("middle"));  // used a moment ago: newer than "newest" now
        CHECK_FALSE(f.has_record("newest"));
    }
    SECTION("0 empties the cache") {
        options.keep_bytes = 0;
        CHECK(prune(f.store, options).records_removed == 2);
        CHECK(list_records(f.store, "steps").empty());
        CHECK_FALSE(f.store.has_snapshot(newest.chain_id));
    }
}

TEST_CASE("prune --filter until= removes only records unused for that long", "[gc]") {
    Fixture f;
    const auto old_layer = f.layer("old");
    const auto recent_layer = f.layer("recent");
    f.record("old", old_layer, 3 * 86400);
    f.record("recent", recent_layer, 60);
    auto options = cache_prune();
    options.unused_for_seconds = 86400;
    CHECK(prune(f.store, options).records_removed == 1);
    CHECK_FALSE(f.has_record("old"));
    CHECK(f.has_record("recent"));
    CHECK(f.store.has_blob(recent_layer.blob.digest));
    CHECK_FALSE(f.store.has_blob(old_layer.blob.digest));
}

TEST_CASE("mark_record_used moves a record's last use to now", "[gc]") {
    Fixture f;
    f.record("r", f.layer("x"), 10 * 86400);
    const auto before = list_records(f.store, "steps").at(0).last_used;
    mark_record_used(f.store, "steps", "r");
    const auto after = list_records(f.store, "steps").at(0).last_used;
    CHECK(after >= before + 9 * 86400);
    CHECK_NOTHROW(mark_record_used(f.store, "steps", "gone"));  // removed meanwhile: nothing to mark
    CHECK_THROWS_AS(mark_record_used(f.store, "steps", "../x"), Error);
}

TEST_CASE("a record that is not JSON keeps nothing alive and is pruned", "[gc]") {
    Fixture f;
    const auto l = f.layer("x");
    write_text(f.root.path() / "records" / "steps" / "bad.json", "{not json");
    const auto records = list_records(f.store, "steps");
    REQUIRE(records.size() == 1);
    CHECK_FALSE(records[0].readable);
    const auto result = prune(f.store, cache_prune());
    CHECK(result.records_removed == 1);
    CHECK_FALSE(f.store.has_snapshot(l.chain_id));
}

TEST_CASE("disk_usage splits the store into images, cache and garbage", "[gc]") {
    Fixture f;
    const auto base = f.layer("base");
    f.tagged_image("img", {base});
    const auto cached = f.layer("cached", base.chain_id);
    f.record("in-image", base);
    f.record("cached", cached);
    f.store.put_blob("garbage", "application/octet-stream");

    const DiskUsage u = disk_usage(f.store, {"steps"});
    CHECK(u.images == 1);
    CHECK(u.image_blobs.count == 3);  // manifest, config, layer
    CHECK(u.image_snapshots.count == 1);
    CHECK(u.blobs.count == 5);
    CHECK(u.snapshots.count == 2);
    CHECK(u.cache_records == 2);
    CHECK(u.cache_records_in_images == 1);
    CHECK(u.cache_blobs.count == 1);
    CHECK(u.cache_blobs.bytes == cached.blob.size);
    CHECK(u.cache_snapshots.count == 1);
    CHECK(u.cache_snapshots.bytes > 0);
    CHECK(u.garbage_blobs.count == 1);
    CHECK(u.garbage_blobs.bytes == 7);
    CHECK(u.garbage_snapshots.count == 0);
}

TEST_CASE("a tagged image that cannot be read stops prune before it removes anything", "[gc]") {
    Fixture f;
    const auto l = f.layer("x");
    const Descriptor image = f.tagged_image("img", {l});
    const auto cached = f.layer("cached");
    f.record("cached", cached);
    REQUIRE(::unlink(f.store.blob_path(image.digest).c_str()) == 0);
    CHECK_THROWS_WITH(prune(f.store, cache_prune()), Catch::Contains("img"));
    CHECK(f.has_record("cached"));
    CHECK(f.store.has_snapshot(cached.chain_id));
    CHECK(f.store.has_snapshot(l.chain_id));
}

TEST_CASE("a collection waits until no process uses the store", "[gc]") {
    Fixture f;
    std::atomic<bool> waited{false};
    std::atomic<bool> collected{false};
    auto user = std::make_unique<GcLock>(f.store, GcLock::Mode::use);
    std::thread collector([&] {
        const GcLock lock(f.store, GcLock::Mode::collect, [&] { waited = true; });
        collected = true;
    });
    while (!waited) std::this_thread::yield();  // it found the store in use and waits
    CHECK_FALSE(collected);
    user.reset();
    collector.join();
    CHECK(collected);
    // Users share the lock with each other.
    const GcLock a(f.store, GcLock::Mode::use);
    bool second_waited = false;
    const GcLock b(f.store, GcLock::Mode::use, [&] { second_waited = true; });
    CHECK_FALSE(second_waited);
}

TEST_CASE("an image index in index.json keeps the manifests of it that the store holds", "[gc]") {
    Fixture f;
    const auto l = f.layer("platform layer");
    const Descriptor manifest = f.tagged_image("tmp", {l});
    const json index = {{"schemaVersion", 2},
                        {"mediaType", media::index},
                        {"manifests",
                         {to_json(manifest),
                          // another platform's manifest, never copied into this store
                          {{"mediaType", media::manifest}, {"digest", "sha256:" + std::string(64, 'e')}, {"size", 10}}}}};
    const Descriptor index_blob = f.store.put_blob(index.dump(), media::index);
    f.store.tag("multi", index_blob);
    // Only the index is tagged now.
    write_text(f.root.path() / "oci" / "index.json",
               json{{"schemaVersion", 2},
                    {"mediaType", media::index},
                    {"manifests", {[&] {
                         json d = to_json(index_blob);
                         d["annotations"] = {{ref_name_annotation, "multi:latest"}};
                         return d;
                     }()}}}
                   .dump());
    const auto result = prune(f.store, cache_prune());
    CHECK(result.blobs_removed == 0);
    CHECK(result.snapshots_removed == 0);
    CHECK(f.store.has_blob(manifest.digest));
    CHECK(f.store.has_blob(l.blob.digest));
    CHECK(f.store.has_snapshot(l.chain_id));
}

} // namespace gc_test
