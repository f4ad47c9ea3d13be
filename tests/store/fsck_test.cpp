// strata fsck over a real store: a healthy one is clean; corrupt and missing blobs,
// dangling tags, records that no longer resolve and leftovers are each reported, and
// repair removes exactly those while what is valid stays usable.
#include "helpers.hpp"
#include "store/containers.hpp"
#include "store/fsck.hpp"
#include "store/gc.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <fcntl.h>
#include <thread>

namespace fsck_test {  // this file's own names: a folder's tests compile as unity batches

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

    StoredLayer layer(const std::string& content, const std::string& parent = "") {
        TempDir staging = store.new_snapshot_staging();
        write_text(staging.path() / "file", content);
        const Layer l = store.write_layer(staging.path());
        const std::string chain = parent.empty() ? l.diff_id : next_chain_id(parent, l.diff_id);
        store.commit_snapshot(std::move(staging), chain);
        return {l.descriptor, l.diff_id, chain};
    }

    Descriptor image(const std::vector<StoredLayer>& layers, const std::string& tag = "") {
        json diff_ids = json::array();
        std::vector<Descriptor> blobs;
        for (const auto& l : layers) {
            diff_ids.push_back(l.diff_id);
            blobs.push_back(l.blob);
        }
        const json config = {{"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
        const Descriptor manifest = store.write_image(config, blobs);
        if (!tag.empty()) store.tag(tag, manifest);
        return manifest;
    }

    void record(const std::string& key, const StoredLayer& l) {
        store.put_record("steps", key, {{"refs", {{"blobs", {l.blob.digest}}, {"snapshots", {l.chain_id}}}}});
    }

    fs::path blob_file(const Descriptor& d) const { return store.blob_path(d.digest); }

    void flip_a_byte(const Descriptor& d) const {
        std::string bytes = read_file(blob_file(d));
        bytes[bytes.size() / 2] ^= 0x20;
        ::chmod(blob_file(d).c_str(), 0644);
        write_text(blob_file(d), bytes);
    }

    FsckReport check(bool repair = false) { return fsck(store, FsckOptions{repair, 2, {}}); }
};

// The problems' lines, for messages and for looking one up.
std::string lines(const FsckReport& report) {
    std::string out;
    for (const auto& p : report.problems) out += describe(p) + "\n";
    return out;
}

bool reports(const FsckReport& report, const std::string& subject, const std::string& message_part) {
    return std::any_of(report.problems.begin(), report.problems.end(), [&](const FsckProblem& p) {
        return p.subject == subject && p.message.find(message_part) != std::string::npos;
    });
}

} // namespace

TEST_CASE("fsck finds nothing wrong in a healthy store, and counts what it checked", "[fsck]") {
    Fixture f;
    const auto base = f.layer("base");
    const auto top = f.layer("top", base.chain_id);
    f.image({base, top}, "app");
    f.record("step", top);
    f.store.put_blob("garbage nobody names", "application/octet-stream");
    const FsckReport report = f.check();
    INFO(lines(report));
    CHECK(report.problems.empty());
    CHECK(report.clean_now());
    CHECK(report.blobs == 5);  // two layers, config, manifest, garbage
    CHECK(report.images == 1);
    CHECK(report.records == 3);  // the step's, and each layer's layer-blobs record (store/layer_blobs.hpp)
    CHECK(report.snapshots == 2);
    CHECK(report.unreferenced_blobs == 1);  // garbage is counted, not a problem
    CHECK(report.unreferenced_snapshots == 0);
    CHECK(report.blob_bytes > 0);
}

TEST_CASE("a corrupt layer blob is found; repair removes it, its tag and its records, and nothing valid", "[fsck]") {
    Fixture f;
    const auto base = f.layer("base");
    const auto good_top = f.layer("good", base.chain_id);
    const auto bad_top = f.layer("bad", base.chain_id);
    const Descriptor good = f.image({base, good_top}, "good");
    f.image({base, bad_top}, "bad");
    f.record("good-step", good_top);
    f.record("bad-step", bad_top);
    f.flip_a_byte(bad_top.blob);

    const FsckReport found = f.check();
    INFO(lines(found));
    CHECK(reports(found, "blob " + bad_top.blob.digest, "corrupt: its content hashes to sha256:"));
    CHECK(reports(found, "image bad:latest", "layer 1 " + bad_top.blob.digest + " is corrupt"));
    CHECK(reports(found, "record steps/bad-step", "is corrupt"));
    CHECK(found.problems.size() == 3);
    CHECK_FALSE(found.clean_now());
    // Checking alone changes nothing.
    CHECK(fs::exists(f.blob_file(bad_top.blob)));
    CHECK(f.store.resolve("bad"));

    const FsckReport repaired = f.check(true);
    INFO(lines(repaired));
    CHECK(repaired.problems.size() == 3);
    CHECK(repaired.repaired() == 3);
    CHECK(repaired.clean_now());
    CHECK_FALSE(fs::exists(f.blob_file(bad_top.blob)));
    CHECK_FALSE(f.store.resolve("bad"));
    CHECK_FALSE(f.store.get_record("steps", "bad-step"));
    // The good image, its record and the shared base are untouched and whole.
    CHECK(f.store.get_record("steps", "good-step"));
    const Image image = f.store.load_image(*f.store.resolve("good"));
    CHECK(image.manifest_descriptor.digest == good.digest);
    for (const auto& layer : image.layers()) CHECK(f.store.has_blob(layer.digest));
    CHECK(f.store.ensure_snapshots(image).size() == 2);

    const FsckReport after = f.check();
    INFO(lines(after));
    CHECK(after.problems.empty());
    // What only the removed tag named is garbage now, which prune (no longer refusing) frees.
    CHECK(after.unreferenced_blobs == 2);  // its config and manifest
    CHECK(prune(f.store, PruneOptions{}).blobs_removed == 2);
}

TEST_CASE("a missing config, a dangling tag and a wrong layer size are found and their tags dropped", "[fsck]") {
    Fixture f;
    const auto l = f.layer("layer");
    const Descriptor keep = f.image({l}, "keep");
    const Descriptor no_config = f.image({f.layer("other")}, "no-config");
    const json manifest = json::parse(f.store.read_blob(no_config.digest));
    REQUIRE(::unlink(f.store.blob_path(manifest["config"]["digest"].get<std::string>()).c_str()) == 0);
    const Descriptor dangling{media::manifest, "sha256:" + std::string(64, 'a'), 100, {}};
    f.store.tag("dangling", dangling);
    StoredLayer wrong_size = l;
    wrong_size.blob.size += 1;
    f.image({wrong_size}, "wrong-size");

    const FsckReport found = f.check();
    INFO(lines(found));
    CHECK(reports(found, "image no-config:latest", "config sha256:"));
    CHECK(reports(found, "image no-config:latest", "is missing"));
    CHECK(reports(found, "image dangling:latest", "manifest " + dangling.digest + " is missing"));
    CHECK(reports(found, "image wrong-size:latest", "its descriptor says " + std::to_string(wrong_size.blob.size)));
    CHECK(found.problems.size() == 3);

    const FsckReport repaired = f.check(true);
    CHECK(repaired.clean_now());
    CHECK_FALSE(f.store.resolve("no-config"));
    CHECK_FALSE(f.store.resolve("dangling"));
    CHECK_FALSE(f.store.resolve("wrong-size"));
    CHECK(f.store.resolve("keep")->digest == keep.digest);
    CHECK(f.store.has_blob(l.blob.digest));  // the layer itself is fine: only the descriptor lied
    CHECK(f.check().problems.empty());
}

TEST_CASE("a record whose snapshot is gone is found and removed on repair", "[fsck]") {
    Fixture f;
    const auto l = f.layer("cached");
    f.record("step", l);
    f.store.put_record("steps", "no-refs", {{"anything", 1}});
    write_text(f.root.path() / "records" / "steps" / "torn.json", "{\"refs\": ");
    remove_tree(f.store.snapshot_dir(l.chain_id));

    const FsckReport found = f.check();
    INFO(lines(found));
    CHECK(reports(found, "record steps/step", "snapshot " + l.chain_id + " is missing"));
    CHECK(reports(found, "record steps/torn", "not a JSON object"));
    CHECK(found.problems.size() == 2);
    CHECK(f.check(true).repaired() == 2);
    CHECK_FALSE(f.store.get_record("steps", "step"));
    CHECK(f.store.get_record("steps", "no-refs"));
    CHECK(f.check().problems.empty());
}

TEST_CASE("leftovers of interrupted writes are found and removed; live sessions are not", "[fsck]") {
    Fixture f;
    f.image({f.layer("x")}, "img");
    const fs::path root = f.root.path();
    const std::vector<fs::path> leftovers = {
        root / "oci" / "index.json.tmp-a1b2c3",
        root / "records" / "steps" / "key.json.tmp-x9y8z7",
        root / "oci" / "blobs" / "sha256" / "not-a-digest",
        root / "oci" / "blobs" / "stray",
        root / "snapshots" / "staging-abc",
        root / "tmp" / "junk",
    };
    for (const auto& path : leftovers) write_text(path, "left over");
    make_dirs(root / "containers" / "half-made" / "upper");  // killed before its container.json
    const Store other(root);  // a live session of another "process": not a leftover

    const FsckReport found = f.check();
    INFO(lines(found));
    CHECK(found.problems.size() == leftovers.size() + 1);
    CHECK(reports(found, "oci/index.json.tmp-a1b2c3", "temp file of an interrupted write"));
    CHECK(reports(found, "oci/blobs/sha256/not-a-digest", "not a sha256 digest"));
    CHECK(reports(found, "containers/half-made", "never finished"));

    const FsckReport repaired = f.check(true);
    CHECK(repaired.clean_now());
    for (const auto& path : leftovers) CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(root / "containers" / "half-made"));
    CHECK(fs::exists(other.tmp_dir()));
    CHECK(f.store.load_image(*f.store.resolve("img")).layers().size() == 1);
    CHECK(f.check().problems.empty());
}

TEST_CASE("a kept container whose image is gone is reported but never removed", "[fsck]") {
    Fixture f;
    const auto l = f.layer("x");
    const Descriptor image = f.image({l});
    ContainerRecord record;
    record.name = "web";
    record.image = image;
    const fs::path dir = create_container(f.store, record);
    write_text(dir / "upper" / "data", "the user's work");
    CHECK(f.check().problems.empty());  // the container keeps its untagged image valid

    REQUIRE(::unlink(f.blob_file(l.blob).c_str()) == 0);
    const FsckReport repaired = f.check(true);
    INFO(lines(repaired));
    CHECK(reports(repaired, "container web", "strata rm web"));
    CHECK(repaired.repaired() == 0);
    CHECK_FALSE(repaired.clean_now());
    CHECK(fs::exists(dir / "upper" / "data"));
}

TEST_CASE("fsck waits for running builds before it looks", "[fsck]") {
    Fixture f;
    std::atomic<bool> waited{false};
    std::atomic<bool> done{false};
    auto build = std::make_unique<GcLock>(f.store, GcLock::Mode::use);
    // A build's half-written record: not a leftover while the build runs, one after it died.
    const fs::path temp = f.root.path() / "records" / "steps" / "k.json.tmp-123456";
    write_text(temp, "{");
    FsckReport report;
    std::thread checker([&] {
        FsckOptions options;
        options.on_wait = [&] { waited = true; };
        report = fsck(f.store, options);
        done = true;
    });
    while (!waited) std::this_thread::yield();
    CHECK_FALSE(done);
    REQUIRE(::unlink(temp.c_str()) == 0);  // the build finished its write
    build.reset();
    checker.join();
    CHECK(done);
    INFO(lines(report));
    CHECK(report.problems.empty());
}

} // namespace fsck_test
