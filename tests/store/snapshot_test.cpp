#include "helpers.hpp"

#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

namespace snapshot_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

// Stores a gzip layer made of `entries` and returns {descriptor, diff id}.
std::pair<Descriptor, std::string> put_tar_layer(Store& store, const std::vector<TarEntry>& entries) {
    TempDir work(test_tmp());
    write_tar(work.path() / "l.tgz", entries, true);
    const std::string gz = read_file(work.path() / "l.tgz");
    return {store.put_blob(gz, media::layer_gzip), sha256_digest(gunzip(gz))};
}

Image image_of(Store& store, const std::vector<std::pair<Descriptor, std::string>>& layers) {
    std::vector<Descriptor> descs;
    std::vector<std::string> diff_ids;
    for (const auto& [d, id] : layers) {
        descs.push_back(d);
        diff_ids.push_back(id);
    }
    const json config = {{"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    return store.load_image(store.write_image(config, descs));
}

std::vector<std::string> snapshot_entries(const Store& store) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(store.root() / "snapshots")) out.push_back(e.path().filename().string());
    return out;
}

} // namespace

TEST_CASE("ensure_snapshots unpacks each layer once, keyed by chain id", "[snapshot]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const auto l0 = put_tar_layer(store, {tar_dir("etc"), tar_reg("etc/a", "0")});
    const auto l1 = put_tar_layer(store, {tar_reg("etc/b", "1")});
    const Image image = image_of(store, {l0, l1});
    const auto chains = chain_ids(image.diff_ids());

    const auto dirs = store.ensure_snapshots(image);
    REQUIRE(dirs.size() == 2);
    CHECK(dirs[0] == store.snapshot_dir(chains[0]));
    CHECK(dirs[1] == root.path() / "snapshots" / chains[1].substr(7));
    CHECK(store.has_snapshot(chains[1]));
    CHECK(tree_listing(dirs[0]) == std::map<std::string, std::string>{{"etc", ""}, {"etc/a", "0"}});
    CHECK(tree_listing(dirs[1]) == std::map<std::string, std::string>{{"etc", ""}, {"etc/b", "1"}});
    struct stat st {};
    REQUIRE(::stat(dirs[1].c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);

    // A second call finds them and unpacks nothing (a marker file survives).
    write_text(dirs[0] / "marker", "m");
    CHECK(store.ensure_snapshots(image) == dirs);
    CHECK(fs::exists(dirs[0] / "marker"));
    CHECK(snapshot_entries(store).size() == 2);
}

TEST_CASE("a hostile layer leaves no snapshot and no staging behind", "[snapshot][security]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const auto good = put_tar_layer(store, {tar_reg("ok", "1")});
    const auto evil = put_tar_layer(store, {tar_reg("fine", "x"), tar_reg("../escape", "x")});
    const Image image = image_of(store, {good, evil});
    CHECK_THROWS_WITH(store.ensure_snapshots(image), Catch::Contains("'../escape'") && Catch::Contains(evil.first.digest));
    const auto chains = chain_ids(image.diff_ids());
    CHECK(store.has_snapshot(chains[0]));
    CHECK_FALSE(store.has_snapshot(chains[1]));
    CHECK(snapshot_entries(store) == std::vector<std::string>{chains[0].substr(7)});
    CHECK_FALSE(fs::exists(root.path() / "escape"));
    CHECK_FALSE(fs::exists(root.path() / "snapshots/escape"));
}

TEST_CASE("a layer whose content is not its claimed diff id is not snapshotted", "[snapshot][security]") {
    TempDir root(test_tmp());
    Store store(root.path());
    auto layer = put_tar_layer(store, {tar_reg("f", "real")});
    layer.second = sha256_digest("some other layer");
    const Image image = image_of(store, {layer});
    CHECK_THROWS_WITH(store.ensure_snapshots(image), Catch::Contains("diff id mismatch"));
    CHECK(snapshot_entries(store).empty());
}

TEST_CASE("a corrupt layer blob is not snapshotted", "[snapshot][security]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const auto layer = put_tar_layer(store, {tar_reg("f", "real")});
    const Image image = image_of(store, {layer});
    // Swap in a different but valid layer under the same blob name.
    TempDir work(test_tmp());
    write_tar(work.path() / "other.tgz", {tar_reg("f", "fake")}, true);
    const fs::path blob = store.blob_path(layer.first.digest);
    fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
    fs::copy_file(work.path() / "other.tgz", blob, fs::copy_options::overwrite_existing);
    CHECK_THROWS_AS(store.ensure_snapshots(image), Error);
    CHECK(snapshot_entries(store).empty());
}

TEST_CASE("committing a chain id that exists drops the staging", "[snapshot]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const std::string chain = sha256_digest("chain");
    TempDir first = store.new_snapshot_staging();
    CHECK(first.path().parent_path() == store.tmp_dir());  // same filesystem as snapshots/
    write_text(first.path() / "f", "first");
    const fs::path committed = store.commit_snapshot(std::move(first), chain);
    CHECK(committed == store.snapshot_dir(chain));

    TempDir second = store.new_snapshot_staging();
    const fs::path second_path = second.path();
    write_text(second.path() / "f", "second");
    CHECK(store.commit_snapshot(std::move(second), chain) == committed);
    CHECK(read_file(committed / "f") == "first");
    CHECK_FALSE(fs::exists(second_path));
    CHECK_THROWS_AS(store.snapshot_dir("../x"), Error);
}

} // namespace snapshot_test
